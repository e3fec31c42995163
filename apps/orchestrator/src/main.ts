import { runNestService } from '@atelier/observability';
import { AppModule } from './app.module';
import { loadOrchestratorConfig } from './config';
import { useExactJsonBody } from './http/exact-json-body';
import { registerRequestTrace, requestIdFor } from './http/request-trace';
import { setUpOpenApi } from './openapi';

void runNestService({
  service: 'orchestrator',
  loadConfig: () => loadOrchestratorConfig(),
  module: (config) => AppModule.forRoot(config),
  port: (config) => config.PORT,
  host: (config) => config.LISTEN_HOST,
  logLevel: (config) => config.LOG_LEVEL,
  bodyLimit: (config) => config.HTTP_BODY_LIMIT_BYTES,
  genReqId: requestIdFor,
  shutdownTimeoutMs: (config) => config.SHUTDOWN_GRACE_MS + 15_000,
  configure: (app) => {
    registerRequestTrace(app.getHttpAdapter().getInstance());
    useExactJsonBody(app);
    setUpOpenApi(app);
  },
});
