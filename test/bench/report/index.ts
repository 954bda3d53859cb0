export { renderHops, renderTable } from './render-table';
export { latencySvg, throughputSvg } from './render-svg';
export { renderMarkdown, type MarkdownOptions } from './render-markdown';
export { fileStamp, writeReport, type WrittenReport } from './write-report';
