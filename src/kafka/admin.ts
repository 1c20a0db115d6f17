import type { Admin, Kafka } from 'kafkajs';

/**
 * Runs admin calls, retrying the transient errors a young broker gives (a group
 * coordinator or a new partition's leader still moving in), which KafkaJS's admin
 * does not retry for every request.
 */
export async function withAdmin<T>(kafka: Kafka, use: (admin: Admin) => Promise<T>, attempts = 20): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await use(admin);
      } catch (error) {
        const retriable = (error as { retriable?: boolean }).retriable === true || /coordinator|does not host|leader/i.test(String(error));
        if (!retriable || attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}
