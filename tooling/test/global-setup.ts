import { setupServices } from '../src/vitest-services.js';

export default setupServices(['redis', 'beanstalkd', 'rabbitmq']);
