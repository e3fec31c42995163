import { runAgent } from '@atelier/agent-runtime';
import { draft } from './draft.handler';

void runAgent({ agent: 'writer', handlers: { 'writer.draft': draft } });
