/** One partition of one topic: the unit Kafka assigns, orders and commits offsets by. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}
