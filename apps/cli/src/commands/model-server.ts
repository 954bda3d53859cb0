import { agentRun10Script, startScriptedModel, type ModelScript } from '@keel/testing';
import { demoScript } from '../demo-script';

const SCRIPTS: Record<string, () => ModelScript> = {
  demo: demoScript,
  'agent-run-10': () => agentRun10Script,
};

/** Serve a scripted model until killed (docker-compose's `scripted-model`, the benchmark's model). */
export async function modelServer(opts: {
  port: number;
  script: string;
  host: string;
}): Promise<number> {
  const script = SCRIPTS[opts.script];
  if (!script)
    throw new Error(`unknown script '${opts.script}' (known: ${Object.keys(SCRIPTS).join(', ')})`);
  // Nothing reads the requests back here, so none are kept: it may serve for days.
  const model = await startScriptedModel(script(), {
    port: opts.port,
    host: opts.host,
    keepRequests: 0,
  });
  console.log(`scripted model listening at ${model.baseUrl}`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await model.close();
  return 0;
}
