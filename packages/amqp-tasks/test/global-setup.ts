import { setupServices } from '@dispatcher/tooling/vitest-services';

export default setupServices(['rabbitmq']);
