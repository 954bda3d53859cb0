import { traceparentSampled } from './trace-context';

describe('traceparentSampled', () => {
  const id = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331';
  it('reads the sampled bit of the flags', () => {
    expect(traceparentSampled(`${id}-01`)).toBe(true);
    expect(traceparentSampled(`${id}-00`)).toBe(false);
    expect(traceparentSampled(`${id}-03`)).toBe(true);
    expect(traceparentSampled(`${id}-02`)).toBe(false);
  });
  it('counts a malformed value as sampled, so the caller takes the normal path', () => {
    expect(traceparentSampled('garbage')).toBe(true);
    expect(traceparentSampled(`${id}-zz`)).toBe(true);
    expect(traceparentSampled('')).toBe(true);
  });
});
