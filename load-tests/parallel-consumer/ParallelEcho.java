import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelConsumerOptions.CommitMode;
import io.confluent.parallelconsumer.ParallelConsumerOptions.ProcessingOrder;
import io.confluent.parallelconsumer.ParallelEoSStreamProcessor;

/**
 * The load harness's Confluent Parallel Consumer baseline: the concurrency benchmark's echo
 * handler (wait `delayMs`, then forward the record) run by Parallel Consumer with KEY ordering,
 * maxConcurrency N and its transactional commit mode, where the consumed offsets and the produced
 * records commit in one producer transaction. Each output carries the lineage header (input
 * topic/partition/offset), so the harness audits it exactly as it audits txstream.
 *
 * Keys and values are copied as bytes; the wait is Thread.sleep on Parallel Consumer's own pool
 * of maxConcurrency threads, as its users block on I/O in pollAndProduce.
 *
 * Usage: ParallelEcho bootstrap groupId input output lineageHeader maxConcurrency delayMs maxSeconds
 *
 * It stops by itself: when its stdin reaches end-of-file (the harness closes it, or the harness
 * died), after maxSeconds, or when Parallel Consumer fails, whichever comes first. It prints
 * "RUNNING" once partitions are assigned, so the harness knows it has joined.
 */
public final class ParallelEcho {
    private ParallelEcho() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 8) {
            System.err.println("usage: ParallelEcho bootstrap groupId input output lineageHeader maxConcurrency delayMs maxSeconds");
            System.exit(2);
        }
        String bootstrap = args[0];
        String groupId = args[1];
        String input = args[2];
        String output = args[3];
        String lineageHeader = args[4];
        int maxConcurrency = Integer.parseInt(args[5]);
        long delayMs = Long.parseLong(args[6]);
        long maxSeconds = Long.parseLong(args[7]);

        Properties consumerProps = new Properties();
        consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        // Parallel Consumer commits offsets itself (here in the producer's transactions) and refuses auto commit.
        consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);

        Properties producerProps = new Properties();
        producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // Its transactional mode needs a transactional producer (it checks for the id); one process, one id.
        producerProps.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, groupId + "-pc");
        producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);

        ParallelConsumerOptions<byte[], byte[]> options = ParallelConsumerOptions.<byte[], byte[]>builder()
                .consumer(new KafkaConsumer<>(consumerProps))
                .producer(new KafkaProducer<>(producerProps))
                .ordering(ProcessingOrder.KEY)
                .maxConcurrency(maxConcurrency)
                .commitMode(CommitMode.PERIODIC_TRANSACTIONAL_PRODUCER)
                // Its default in this mode, stated: the same interval as the txstream worker it is compared with.
                .commitInterval(Duration.ofMillis(100))
                .build();
        ParallelEoSStreamProcessor<byte[], byte[]> processor = new ParallelEoSStreamProcessor<>(options);

        AtomicBoolean announced = new AtomicBoolean();
        processor.subscribe(List.of(input), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                if (!partitions.isEmpty() && announced.compareAndSet(false, true)) {
                    System.out.println("RUNNING " + partitions.size() + " partitions");
                    System.out.flush();
                }
            }

            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}
        });
        processor.pollAndProduce(context -> {
            ConsumerRecord<byte[], byte[]> record = context.getSingleConsumerRecord();
            try {
                Thread.sleep(delayMs);
            } catch (InterruptedException e) {
                // Closing: give up on this record; it is not committed and runs again after a restart.
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
            ProducerRecord<byte[], byte[]> out = new ProducerRecord<>(output, record.key(), record.value());
            out.headers().add(lineageHeader, (record.topic() + "/" + record.partition() + "/" + record.offset()).getBytes(StandardCharsets.UTF_8));
            return out;
        });

        CountDownLatch stop = new CountDownLatch(1);
        // End-of-file on stdin is the stop signal; it also comes when the harness dies.
        Thread stdinWatch = new Thread(() -> {
            try (InputStream in = System.in) {
                byte[] buffer = new byte[256];
                while (in.read(buffer) >= 0) {
                    // Anything written is ignored: only the end of the stream matters.
                }
            } catch (IOException ignored) {
                // A broken pipe means the harness is gone: stop as on end-of-file.
            }
            stop.countDown();
        }, "stdin-watch");
        stdinWatch.setDaemon(true);
        stdinWatch.start();

        // Parallel Consumer fails on its own control thread: watched, so a failure ends the run at once.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(maxSeconds);
        while (!stop.await(250, TimeUnit.MILLISECONDS) && !processor.isClosedOrFailed()) {
            if (System.nanoTime() > deadline) {
                System.out.println("TIMEOUT after " + maxSeconds + " s");
                break;
            }
        }
        boolean clean = !processor.isClosedOrFailed();
        if (!clean) System.err.println("ERROR Parallel Consumer stopped by itself: " + processor.getFailureCause());
        try {
            // Without draining: the records in flight finish and commit, the queued rest is left for the next owner.
            processor.closeDontDrainFirst(Duration.ofSeconds(30));
        } catch (Exception e) {
            System.err.println("ERROR closing: " + e);
            clean = false;
        }
        System.out.println("CLOSED " + (clean ? "clean" : "failed"));
        System.out.flush();
        System.exit(clean ? 0 : 1);
    }
}
