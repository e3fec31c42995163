import { runAgent } from '@atelier/agent-runtime';
import { investigate } from './investigate.handler';
import { plan } from './plan.handler';

void runAgent({ agent: 'research', handlers: { 'research.plan': plan, 'research.investigate': investigate } });
