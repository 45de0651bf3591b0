import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Kafka's own Java producer, for tests that need messages compressed the way real producers compress them (kafkajs
 * writes only gzip). Run as a single-file program against the broker's jars:
 *
 *   java -cp '.cache/kafka/libs/*' test/helpers/ProduceCompressed.java <brokers>
 *
 * Reads one message per stdin line, "<topic> <none|gzip|snappy|lz4|zstd> <key> <value>", key and value base64 or "-"
 * for null. One producer per compression type, so one JVM serves a whole test; each sends in as few batches as it
 * makes (one compressed record batch holds many messages). Waits for every ack and prints the count.
 */
public class ProduceCompressed {
  public static void main(String[] args) throws Exception {
    Base64.Decoder base64 = Base64.getDecoder();
    Map<String, KafkaProducer<byte[], byte[]>> producers = new HashMap<>();
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      for (String line = in.readLine(); line != null; line = in.readLine()) {
        if (line.isEmpty()) continue;
        String[] parts = line.split(" ", 4);
        KafkaProducer<byte[], byte[]> producer =
            producers.computeIfAbsent(parts[1], compression -> producer(args[0], compression));
        byte[] key = parts[2].equals("-") ? null : base64.decode(parts[2]);
        byte[] value = parts[3].equals("-") ? null : base64.decode(parts[3]);
        sent.add(producer.send(new ProducerRecord<>(parts[0], key, value)));
      }
      for (KafkaProducer<byte[], byte[]> producer : producers.values()) producer.flush();
      for (Future<RecordMetadata> ack : sent) ack.get();
    } finally {
      for (KafkaProducer<byte[], byte[]> producer : producers.values()) producer.close();
    }
    System.out.println(sent.size());
  }

  private static KafkaProducer<byte[], byte[]> producer(String brokers, String compression) {
    Properties config = new Properties();
    config.put("bootstrap.servers", brokers);
    config.put("compression.type", compression);
    config.put("acks", "all");
    config.put("max.block.ms", "20000");
    config.put("delivery.timeout.ms", "60000");
    config.put("request.timeout.ms", "30000");
    config.put("linger.ms", "50");
    config.put("batch.size", Integer.toString(1 << 20));
    config.put("max.request.size", Integer.toString(16 << 20));
    return new KafkaProducer<>(config, new ByteArraySerializer(), new ByteArraySerializer());
  }
}
