import { telemetry } from './instrument';
import 'reflect-metadata';
import { BaseConfig, runService } from '@keel/runtime';
import { BudgetGuardModule } from './budget-guard.module';

runService({ name: 'budget-guard', config: BaseConfig, module: BudgetGuardModule.forRoot, env: process.env, telemetry });
