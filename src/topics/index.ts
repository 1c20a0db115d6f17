export { applyTopics, type ApplyResult, PlanRefusedError, readClusterTopics } from './cluster.js';
export { formatProblem, type Problem, TopicsValidationError } from './errors.js';
export { SERDE_FORMATS, type SerdeSpec, TOPIC_CONFIG_NAMES, topicsFileSchema, topicsJsonSchema, type TopicsFile } from './format.js';
export { type DesiredTopic, loadTopicsDir, loadTopicsSources, type ProjectPipeline, type TopicsProject } from './load.js';
export { pipelinesOfProject } from './pipelines.js';
export { type ClusterTopic, formatPlan, type PlanEntry, planHasChanges, planTopics, type TopicPlan } from './plan.js';
