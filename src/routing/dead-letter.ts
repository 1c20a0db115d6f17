import { DEFAULTS } from '../config/defaults.js';

/** The dead-letter topic of an input topic. */
export function deadLetterTopicOf(topic: string): string {
  return `${topic}${DEFAULTS.deadLetterSuffix}`;
}
