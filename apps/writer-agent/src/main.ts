import { runAgent } from '@atelier/agent-runtime';
import { draft } from './draft.handler';
import { review } from './review.handler';

void runAgent({ agent: 'writer', handlers: { 'writer.draft': draft, 'writer.review': review } });
