import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config';
import { ApiKeyStore } from './api-key.store';

/** ATELIER_BOOTSTRAP_API_KEY becomes the first admin key, so a fresh install can mint the rest. */
@Injectable()
export class BootstrapKey implements OnApplicationBootstrap {
  constructor(
    private readonly keys: ApiKeyStore,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.ATELIER_BOOTSTRAP_API_KEY) await this.keys.ensureBootstrapKey(this.config.ATELIER_BOOTSTRAP_API_KEY);
  }
}
