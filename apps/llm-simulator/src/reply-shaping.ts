import { createHash } from 'node:crypto';
import type { CountTokensRequest } from './request-validation';

// Replies are a pure function of the request (no clock, no randomness), shaped like
// what each Atelier step expects so the pipeline runs end to end: a plan, findings,
// a draft, a review. The step is recognised from the system prompt.

export type ReplyStep = 'plan' | 'findings' | 'draft' | 'review' | 'echo';

const STEP_PHRASES: ReadonlyArray<[string, ReplyStep]> = [
  ['research planner', 'plan'],
  ['research analyst', 'findings'],
  ['technical writer', 'draft'],
  ['reviewer', 'review'],
];

const DIRECTIVE = /\[\[sim:[^\]]*\]\]/gi;
const FINDING_IDS = /\[F-[0-9a-f]{8}\]/g;
const HAS_FINDING_ID = /\[F-[0-9a-f]{8}\]/;
// Common words, and the words of the plan's own question templates, so key words stay on topic.
const STOP_WORDS = new Set(
  `about above after again also because been before being between both could does doing during each from further have
  having here into just more most once only other over same should some such than that their them then there these they
  this those through under until very what when where which while will with would your explain describe write report
  question goal current state main matter evidence figures exist risks open problems affect likely change next five years`.split(/\s+/),
);
const LEADING_INSTRUCTION =
  /^(?:please\s+)?(?:explain|describe|summari[sz]e|compare|analy[sz]e|investigate|research|discuss|outline|assess|evaluate|write(?:\s+an?)?(?:\s+\w+)?\s+(?:on|about))\s+(?:the\s+)?/i;
const MAX_TOPIC_WORDS = 12;

export function recogniseStep(systemText: string): ReplyStep {
  const lower = systemText.toLowerCase();
  return STEP_PHRASES.find(([phrase]) => lower.includes(phrase))?.[1] ?? 'echo';
}

export function shapeReply(request: Pick<CountTokensRequest, 'system' | 'messages'>): string {
  const system = request.system.map((block) => block.text).join('\n');
  const lastUser = request.messages.findLast((message) => message.role === 'user') ?? request.messages.at(-1);
  const userText = (lastUser?.content ?? []).map((block) => block.text).join('\n');
  switch (recogniseStep(system)) {
    case 'plan':
      return plan(userText);
    case 'findings':
      return findings(userText);
    case 'draft':
      return draft(userText);
    case 'review':
      return review(userText);
    case 'echo':
      return echo(userText);
  }
}

function plan(userText: string): string {
  const goal = cleanGoal(userText);
  const topic = topicOf(goal);
  const templates = [
    `What is the current state of ${topic}?`,
    `Which trade-offs matter most for ${topic}?`,
    `What evidence and figures exist on ${topic}?`,
    `Which risks and open problems affect ${topic}?`,
    `How is ${topic} likely to change over the next five years?`,
  ];
  const digest = sha256(goal);
  const count = 2 + (parseInt(digest.slice(0, 2), 16) % 4);
  const offset = parseInt(digest.slice(2, 4), 16) % templates.length;
  const questions = Array.from({ length: count }, (_, index) => templates[(offset + index) % templates.length]);
  return JSON.stringify({ questions });
}

function findings(userText: string): string {
  const question = labelled(userText, 'Question') ?? userText.trim();
  const words = keyWords(question);
  const [first, second = first, third = first] = words;
  const points = [
    `Most sources treat ${first} as the deciding factor for ${second}.`,
    `Reported figures for ${second} vary widely, so comparisons need a common baseline.`,
    `Open questions remain about ${third}, where the evidence is still thin.`,
  ];
  const digest = sha256(question);
  const publishers = ['Harlow Institute', 'Meridian Review', 'Northgate Labs', 'Castell & Finch', 'Open Systems Quarterly', 'Vantage Data Group'];
  const kinds = ['report', 'survey', 'white paper', 'case study'];
  const sources = [0, 1].map((index) => {
    const byte = (at: number) => parseInt(digest.slice(at, at + 2), 16);
    const publisher = publishers[byte(index * 6) % publishers.length];
    const kind = kinds[byte(index * 6 + 2) % kinds.length];
    return `${publisher} ${kind} on ${words[index % words.length]} (${2018 + (byte(index * 6 + 4) % 8)})`;
  });
  return [
    `## Findings: ${question}`,
    '',
    ...points.map((point, index) => `- Key point ${index + 1}: ${point} [F-${sha256(`${question}${index + 1}`).slice(0, 8)}]`),
    '',
    `Sources: ${sources.join('; ')}`,
  ].join('\n');
}

function draft(userText: string): string {
  const goal = cleanGoal(userText);
  const blocks = findingsBlocks(userText);
  const points = blocks.reduce((sum, block) => sum + block.points.length, 0);
  const summary =
    blocks.length === 0 ?
      `No research findings were provided, so this report only restates the goal: ${goal}`
    : `This report answers "${goal}" from ${blocks.length} research note${blocks.length === 1 ? '' : 's'} with ${points} key point${points === 1 ? '' : 's'}.`;
  return [
    `# ${capitalise(goal.replace(/[.?!:;\s]+$/, ''))}`,
    '',
    '## Summary',
    '',
    summary,
    ...blocks.flatMap((block) => ['', `## ${block.question}`, '', ...block.points.map((point) => `- ${point}`)]),
    '',
    '## Conclusion',
    '',
    `Taken together, the findings on ${topicOf(goal)} point to a clear next step: compare the options against a common baseline before committing.`,
  ].join('\n');
}

function review(userText: string): string {
  const rejected = /\[\[sim:review=reject\]\]/i.test(userText);
  const cited = new Set(userText.match(FINDING_IDS) ?? []).size;
  const comments =
    rejected ?
      ['The draft does not answer the goal yet: tighten the summary and cite a finding for every claim.']
    : [`The draft answers the goal and cites ${cited} finding${cited === 1 ? '' : 's'}.`];
  return JSON.stringify({ approved: !rejected, comments });
}

function echo(userText: string): string {
  const text = userText.replace(DIRECTIVE, '').replace(/\s+/g, ' ').trim();
  const excerpt = text.length > 120 ? `${text.slice(0, 117)}...` : text;
  return `This is a simulated answer about "${excerpt}". It touches on ${keyWords(text).join(', ')}.`;
}

interface FindingsBlock {
  question: string;
  points: string[];
}

/** The `## Findings: <question>` blocks of an input, each with its bullet points that carry an [F-…] id. */
function findingsBlocks(text: string): FindingsBlock[] {
  const blocks: FindingsBlock[] = [];
  for (const line of text.split('\n')) {
    const heading = /^#+\s*Findings:\s*(.+)$/i.exec(line.trim());
    if (heading) {
      blocks.push({ question: heading[1].trim(), points: [] });
      continue;
    }
    const bullet = /^[-*]\s*(?:Key point \d+:\s*)?(.+)$/i.exec(line.trim());
    if (bullet && HAS_FINDING_ID.test(bullet[1])) {
      if (blocks.length === 0) blocks.push({ question: 'Findings', points: [] });
      blocks[blocks.length - 1].points.push(bullet[1].trim());
    }
  }
  return blocks;
}

/** The value of a `Label: value` line, as Atelier's prompts write them. */
function labelled(text: string, label: string): string | undefined {
  const match = new RegExp(`^\\s*${label}:\\s*(.+)$`, 'im').exec(text);
  return match?.[1]?.trim();
}

function cleanGoal(userText: string): string {
  return (labelled(userText, 'Goal') ?? userText).replace(DIRECTIVE, '').replace(/\s+/g, ' ').trim();
}

/** The goal without its leading instruction ("Explain the ..."), short enough to quote in a question. */
function topicOf(goal: string): string {
  const words = goal.replace(LEADING_INSTRUCTION, '').replace(/[.?!:;\s]+$/, '').split(' ');
  const topic = words.slice(0, MAX_TOPIC_WORDS).join(' ');
  return topic === '' ? 'the topic' : topic.charAt(0).toLowerCase() + topic.slice(1);
}

/** Up to four distinctive words of `text`, in order, so replies visibly mention their input. */
function keyWords(text: string): string[] {
  const words = (text.replace(DIRECTIVE, '').toLowerCase().match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? []).filter(
    (word) => word.length >= 4 && !STOP_WORDS.has(word),
  );
  const unique = [...new Set(words)].slice(0, 4);
  return unique.length > 0 ? unique : ['the topic'];
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
