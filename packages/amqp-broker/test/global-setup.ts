import { setupServices } from '@dispatcher/tooling/vitest-services';

// Checks once per run that RabbitMQ answers (the differential suites compare against it).
export default setupServices(['rabbitmq']);
