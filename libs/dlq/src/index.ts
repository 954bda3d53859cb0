export * from './entry';
export * from './errors';
export * from './payload';
export {
  recordDlqEntry,
  listDlqEntries,
  getDlqEntry,
  openDepthByCode,
  type ListFilter,
  type RecordResult,
} from './store';
export * from './operations';
export * from './entry-json';
