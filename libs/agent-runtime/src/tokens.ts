export const AGENT_CONFIG = Symbol('AGENT_CONFIG');
export const AGENT_DEFINITION = Symbol('AGENT_DEFINITION');
