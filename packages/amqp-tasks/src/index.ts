export { TasksError, type TasksErrorCode, TasksErrorCodes } from './errors.js';
