import { startScriptedModel } from '@keel/testing';
import { demoScript } from '../demo-script';

/** Serve the demo's scripted model until killed (docker-compose's `scripted-model`). */
export async function modelServer(opts: { port: number }): Promise<number> {
  const model = await startScriptedModel(demoScript(), { port: opts.port, host: '0.0.0.0' });
  console.log(`scripted model listening at ${model.baseUrl}`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await model.close();
  return 0;
}
