import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * The load harness's Kafka Streams baseline: an EOS-v2 pass-through from one topic to another,
 * no state stores. Each output carries the lineage header (input topic/partition/offset), so the
 * harness audits it exactly as it audits txstream.
 *
 * Two value modes, so each txstream serde has a like-for-like partner:
 * - bytes (the default): values are copied as bytes, as txstream's serde 'bytes' does;
 * - json: each value is parsed into a tree and written again with Jackson (ObjectMapper readTree
 *   and writeValueAsBytes), as txstream's serde 'json' does with JSON.parse and JSON.stringify.
 *   Floats are read as exact BigDecimals and written plain, so a value's stamp (n, sentAt) comes
 *   out as it went in. A value that is not JSON (the load's poison records) is forwarded unchanged:
 *   txstream dead-letters it instead, one produce either way, at 1 in 1,000 records.
 *
 * Usage: PassThrough bootstrap applicationId input output lineageHeader stateDir maxSeconds [bytes|json]
 *
 * It stops by itself: when its stdin reaches end-of-file (the harness closes it, or the harness
 * died), or after maxSeconds, whichever comes first. It prints "STATE <state>" on each state
 * change so the harness knows when it is RUNNING.
 */
public final class PassThrough {
    private PassThrough() {}

    /** Adds the lineage header and forwards the record unchanged otherwise. */
    static class Lineage implements Processor<byte[], byte[], byte[], byte[]> {
        private final String header;
        private ProcessorContext<byte[], byte[]> context;

        Lineage(String header) {
            this.header = header;
        }

        @Override
        public void init(ProcessorContext<byte[], byte[]> context) {
            this.context = context;
        }

        @Override
        public void process(Record<byte[], byte[]> record) {
            RecordMetadata meta = context.recordMetadata().orElseThrow();
            byte[] lineage = (meta.topic() + "/" + meta.partition() + "/" + meta.offset()).getBytes(StandardCharsets.UTF_8);
            // A copy: the input record's headers must not change under Streams' feet.
            RecordHeaders headers = new RecordHeaders(record.headers().toArray());
            headers.add(header, lineage);
            context.forward(record.withHeaders(headers).withValue(value(record.value())));
        }

        /** The value to forward: the input's own bytes here; re-encoded JSON in {@link JsonLineage}. */
        byte[] value(byte[] input) {
            return input;
        }
    }

    /** As {@link Lineage}, and the value parsed and re-serialised by Jackson. */
    static final class JsonLineage extends Lineage {
        private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(StreamWriteFeature.WRITE_BIGDECIMAL_AS_PLAIN)
            .nodeFactory(JsonNodeFactory.withExactBigDecimals(true))
            .build();

        JsonLineage(String header) {
            super(header);
        }

        @Override
        byte[] value(byte[] input) {
            if (input == null) return null;
            try {
                return MAPPER.writeValueAsBytes(MAPPER.readTree(input));
            } catch (JacksonException notJson) {
                return input;
            } catch (IOException unexpected) {
                throw new java.io.UncheckedIOException(unexpected);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 7 && args.length != 8) {
            System.err.println("usage: PassThrough bootstrap applicationId input output lineageHeader stateDir maxSeconds [bytes|json]");
            System.exit(2);
        }
        String bootstrap = args[0];
        String applicationId = args[1];
        String input = args[2];
        String output = args[3];
        String lineageHeader = args[4];
        Path stateDir = Path.of(args[5]);
        long maxSeconds = Long.parseLong(args[6]);
        String values = args.length == 8 ? args[7] : "bytes";
        if (!values.equals("bytes") && !values.equals("json")) {
            System.err.println("PassThrough: value mode '" + values + "' is neither bytes nor json");
            System.exit(2);
        }

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        // The same commit interval as the txstream cells it is compared with.
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        StreamsBuilder builder = new StreamsBuilder();
        boolean json = values.equals("json");
        builder.<byte[], byte[]>stream(input).process(() -> json ? new JsonLineage(lineageHeader) : new Lineage(lineageHeader)).to(output);

        CountDownLatch stop = new CountDownLatch(1);
        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        streams.setStateListener((next, previous) -> {
            System.out.println("STATE " + next);
            System.out.flush();
            if (next == KafkaStreams.State.ERROR || next == KafkaStreams.State.NOT_RUNNING) stop.countDown();
        });
        streams.setUncaughtExceptionHandler(error -> {
            System.out.println("ERROR " + error);
            System.out.flush();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

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

        Files.createDirectories(stateDir);
        streams.start();
        boolean stoppedByHarness = stop.await(maxSeconds, TimeUnit.SECONDS);
        if (!stoppedByHarness) System.out.println("TIMEOUT after " + maxSeconds + " s");
        boolean closed = streams.close(Duration.ofSeconds(30));
        System.out.println("CLOSED " + (closed ? "clean" : "timeout"));
        System.out.flush();
        System.exit(closed && streams.state() != KafkaStreams.State.ERROR ? 0 : 1);
    }
}
