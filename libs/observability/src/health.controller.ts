import { Controller, Get, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { PublicRoute } from './public-route';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { READINESS_CHECKS, type ReadinessCheck } from './readiness-check';

const READINESS_TIMEOUT_MS = 2_000;

@ApiExcludeController()
@PublicRoute()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
  ) {}

  /** Liveness has no dependencies: a dead database must not get every pod restarted. */
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check(this.checks.map((check) => () => this.probe(check)));
  }

  private async probe(check: ReadinessCheck) {
    const session = this.indicators.check(check.name);
    try {
      await Promise.race([
        check.isReady(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), READINESS_TIMEOUT_MS).unref()),
      ]);
      return session.up();
    } catch (error) {
      return session.down({ message: (error as Error).message });
    }
  }
}
