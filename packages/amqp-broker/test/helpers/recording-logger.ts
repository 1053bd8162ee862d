// The shared recording logger lives in the test tooling; this path stays for the broker's tests.
export { type LogEntry, recordingLogger } from '@dispatcher/tooling';
