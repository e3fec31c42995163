import { runAgent } from '@atelier/agent-runtime';
import { investigate } from './investigate.handler';

void runAgent({ agent: 'research', handlers: { 'research.investigate': investigate } });
