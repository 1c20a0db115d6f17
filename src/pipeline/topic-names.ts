import { DEFAULTS } from '../config/defaults.js';

/** The topics txstream derives from an input topic: one retry topic per attempt, and the dead-letter topic. */

/** Retry topics of an input: one per attempt, so every topic holds records of one delay and stays FIFO by due time. */
export function retryTopicOf(inputTopic: string, attempt: number): string {
  return `${inputTopic}.retry.${attempt}`;
}

/** The dead-letter topic of an input topic. */
export function deadLetterTopicOf(topic: string): string {
  return `${topic}${DEFAULTS.deadLetterSuffix}`;
}
