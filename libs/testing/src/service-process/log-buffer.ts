/**
 * The last `maxChars` characters of a process's output. Older output is
 * dropped, so memory stays bounded however chatty a service is;
 * `droppedChars` says how much went.
 */
export class LogBuffer {
  private chunks: string[] = [];
  private size = 0;
  private dropped = 0;

  constructor(private readonly maxChars: number) {}

  append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > this.maxChars) {
      const first = this.chunks[0] ?? '';
      const excess = this.size - this.maxChars;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.slice(excess);
        this.size -= excess;
        this.dropped += excess;
      }
    }
  }

  text(): string {
    if (this.chunks.length > 1) this.chunks = [this.chunks.join('')];
    return this.chunks[0] ?? '';
  }

  get droppedChars(): number {
    return this.dropped;
  }
}
