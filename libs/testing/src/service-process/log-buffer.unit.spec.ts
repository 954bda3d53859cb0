import { LogBuffer } from './log-buffer';

describe('LogBuffer', () => {
  it('keeps everything below the limit', () => {
    const b = new LogBuffer(10);
    b.append('abc');
    b.append('def');
    expect(b.text()).toBe('abcdef');
    expect(b.droppedChars).toBe(0);
  });

  it('keeps exactly the last maxChars characters, also after text() joined the chunks', () => {
    const b = new LogBuffer(5);
    b.append('abc');
    b.append('def');
    expect(b.text()).toBe('bcdef');
    b.append('g');
    expect(b.text()).toBe('cdefg');
    b.append('0123456789');
    expect(b.text()).toBe('56789');
    expect(b.droppedChars).toBe(12);
  });
});
