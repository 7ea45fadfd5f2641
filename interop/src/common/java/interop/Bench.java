package interop;

import com.google.gson.JsonObject;
import java.io.File;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.apache.rocketmq.common.MQVersion;
import org.apache.rocketmq.common.message.MessageAccessor;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.store.ConsumeQueueExt;
import org.apache.rocketmq.store.DefaultMessageStore;
import org.apache.rocketmq.store.GetMessageResult;
import org.apache.rocketmq.store.GetMessageStatus;
import org.apache.rocketmq.store.MessageFilter;
import org.apache.rocketmq.store.PutMessageResult;
import org.apache.rocketmq.store.PutMessageStatus;
import org.apache.rocketmq.store.config.FlushDiskType;
import org.apache.rocketmq.store.config.MessageStoreConfig;

/**
 * Java's side of {@code rmqstore bench --vs-java}: Apache's {@code DefaultMessageStore} (the jar
 * on the class path, as published) on the same cells, with the same message shape as rmqstore's
 * bench (topic BenchTopic, queues round-robin, KEYS, UNIQ_KEY, WAIT, TAGS; the same body bytes).
 * Each command prints one JSON line on stdout.
 *
 * <pre>
 *   bench-put --store DIR --flush ASYNC_FLUSH|SYNC_FLUSH --transient BOOL --body N --threads N
 *             --seconds S --max-messages N --max-bytes N --segment-size N --queues N --warmup-seconds S
 *   bench-get --store DIR --place hot|behind --filter none|tag --threads N --batch N --per-queue N
 *             --seconds S --max-batches N --segment-size N --queues N --body N --warmup-seconds S
 *             [--fill-bytes N]
 * </pre>
 *
 * Warm-up: before measuring, the JIT is warmed by an unmeasured phase of the same loop
 * ({@code bench-put}: into a separate store under DIR/warmup, shut down and deleted before the
 * measured store DIR/measured is opened; {@code bench-get}: random batches from the newest tenth
 * of each queue, which the measured "behind" reads never reach).
 */
final class Bench {
    static final String TOPIC = "BenchTopic";
    /** One put or batch in this many is timed, as in rmqstore's bench. */
    static final int SAMPLE_EVERY = 4;

    static Map<String, String> opts(String[] args) {
        Map<String, String> m = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) throw new IllegalArgumentException("expected --name value at " + args[i]);
            m.put(args[i].substring(2), args[i + 1]);
        }
        return m;
    }

    static String need(Map<String, String> o, String k) {
        String v = o.get(k);
        if (v == null) throw new IllegalArgumentException("missing --" + k);
        return v;
    }

    static long num(Map<String, String> o, String k) {
        return Long.parseLong(need(o, k));
    }

    static MessageStoreConfig config(String root, Map<String, String> o, boolean sync, boolean transientPool) {
        MessageStoreConfig sc = new MessageStoreConfig();
        sc.setStorePathRootDir(root);
        sc.setStorePathCommitLog(Paths.get(root, "commitlog").toString());
        sc.setMappedFileSizeCommitLog((int) num(o, "segment-size"));
        sc.setFlushDiskType(sync ? FlushDiskType.SYNC_FLUSH : FlushDiskType.ASYNC_FLUSH);
        sc.setTransientStorePoolEnable(transientPool);
        return sc;
    }

    static void deleteTree(Path p) throws Exception {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        }
    }

    // ---- the message, as rmqstore's bench fill_message builds it -------------------------

    static String hex(long v, int digits) {
        String h = Long.toHexString(v).toUpperCase();
        StringBuilder b = new StringBuilder(digits);
        for (int i = h.length(); i < digits; i++) b.append('0');
        return b.append(h).toString();
    }

    static final InetSocketAddress BORN = new InetSocketAddress("127.0.0.1", 0);
    static final InetSocketAddress STORE = new InetSocketAddress("127.0.0.1", 10911);

    /**
     * A message as rmqstore's bench puts it: properties KEYS, UNIQ_KEY, WAIT, TAGS in that order,
     * the properties string built per message (as the broker does per request).
     */
    static MessageExt message(int thread, long n, int queues, byte[] body, String tag) {
        String props = "KEYS\u0001order-" + thread + "-" + n + "\u0002"
            + "UNIQ_KEY\u00017F0000011234" + hex(thread, 8) + hex(n, 16) + "\u0002"
            + "WAIT\u0001true\u0002"
            + "TAGS\u0001" + tag + "\u0002";
        MessageExt m = Driver.COMPAT.newInner(props);
        m.setTopic(TOPIC);
        m.setQueueId((int) ((thread + n) % queues));
        m.setBody(body);
        MessageAccessor.setProperties(m, MessageDecoder.string2messageProperties(props));
        m.setBornTimestamp(1_700_000_000_000L + n);
        m.setBornHost(BORN);
        m.setStoreHost(STORE);
        return m;
    }

    /**
     * The put loop's message, as rmqstore's bench {@code fill_message} builds its own: one message
     * per writer, rewritten in place for every put (the properties string from a reused buffer,
     * no regex split, no per-put map), so the harness costs little next to the put it measures.
     * The bytes the store writes are those of {@link #message}. The properties map, which the
     * store reads only for {@code DELAY} and {@code WAIT} (it encodes the string), is parsed once
     * from the first message: the same keys, so the store answers as for a parsed message.
     * (Parsing per put, as {@link #message} does, cost Java's 128 B put loop about half its
     * writer's time in String.split and HashMap growth: broker work, not the store's.)
     */
    static final class Builder {
        final MessageExt m;
        final int thread, queues;
        final StringBuilder sb = new StringBuilder(128);
        final String prefix, uniqPrefix;

        Builder(int thread, int queues, byte[] body) {
            this.thread = thread;
            this.queues = queues;
            this.prefix = "KEYS\u0001order-" + thread + "-";
            this.uniqPrefix = "\u0002UNIQ_KEY\u00017F0000011234" + hex(thread, 8);
            m = message(thread, 0, queues, body, "TagA");
        }

        MessageExt next(long n) {
            StringBuilder b = sb;
            b.setLength(0);
            b.append(prefix).append(n).append(uniqPrefix);
            for (int k = 15; k >= 0; k--) b.append(HEX[(int) ((n >>> (4 * k)) & 0xF)]);
            b.append("\u0002WAIT\u0001true\u0002TAGS\u0001TagA\u0002");
            Driver.COMPAT.setPropertiesString(m, b.toString());
            m.setQueueId((int) ((thread + n) % queues));
            m.setBornTimestamp(1_700_000_000_000L + n);
            return m;
        }
    }

    static final char[] HEX = "0123456789ABCDEF".toCharArray();

    static byte[] body(int size, int thread) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) b[i] = (byte) ('a' + (i + thread) % 26);
        return b;
    }

    /** The tag of the n-th message of the read stores: TagA..TagD, a quarter of each queue's messages each. */
    static String readTag(long n) {
        return "Tag" + "ABCD".charAt((int) ((n / 4) % 4));
    }

    // ---- latency samples --------------------------------------------------------------------

    static final class Samples {
        long[] v = new long[1 << 12];
        int n;

        void add(long nanos) {
            if (n == v.length) v = Arrays.copyOf(v, v.length * 2);
            v[n++] = nanos;
        }

        void addAll(Samples o) {
            for (int i = 0; i < o.n; i++) add(o.v[i]);
        }

        JsonObject micros() {
            long[] s = Arrays.copyOf(v, n);
            Arrays.sort(s);
            JsonObject o = new JsonObject();
            o.addProperty("samples", n);
            double sum = 0;
            for (long x : s) sum += x;
            o.addProperty("mean", n == 0 ? 0 : sum / n / 1000.0);
            o.addProperty("p50", q(s, 0.5));
            o.addProperty("p99", q(s, 0.99));
            o.addProperty("p999", q(s, 0.999));
            o.addProperty("max", n == 0 ? 0 : s[n - 1] / 1000.0);
            return o;
        }

        static double q(long[] s, double q) {
            if (s.length == 0) return 0;
            int i = (int) Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
            return s[i] / 1000.0;
        }
    }

    static JsonObject header(String cmd) {
        JsonObject o = new JsonObject();
        o.addProperty("engine", "java");
        o.addProperty("command", cmd);
        o.addProperty("version", MQVersion.getVersionDesc(MQVersion.CURRENT_VERSION));
        o.addProperty("jvm", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
        return o;
    }

    // ---- bench-put ---------------------------------------------------------------------------

    static final class PutOutcome {
        Samples lat = new Samples();
        long messages, notOk;
        long endNanos;
    }

    /** Writers put until the deadline, the per-thread cap or the byte cap; returns the merged outcome. */
    static PutOutcome putLoop(DefaultMessageStore store, int threads, int size, int queues, double seconds,
                              long maxMessages, long maxBytes, long[] startNanos) throws Exception {
        long startOffset = store.getMaxPhyOffset();
        long perThread = Math.max(1, maxMessages / threads);
        CyclicBarrier barrier = new CyclicBarrier(threads + 1);
        PutOutcome[] outs = new PutOutcome[threads];
        Throwable[] err = new Throwable[1];
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int th = t;
            outs[t] = new PutOutcome();
            Thread w = new Thread(() -> {
                try {
                    PutOutcome o = outs[th];
                    byte[] body = body(size, th);
                    Builder mb = new Builder(th, queues, body);
                    barrier.await();
                    long start = System.nanoTime();
                    long deadline = start + (long) (seconds * 1e9);
                    long now = start;
                    long n = 0;
                    while (n < perThread && now < deadline) {
                        MessageExt m = mb.next(n);
                        PutMessageResult r;
                        if (n % SAMPLE_EVERY == 0) {
                            long t0 = System.nanoTime();
                            r = Driver.COMPAT.put(store, m);
                            now = System.nanoTime();
                            o.lat.add(now - t0);
                        } else {
                            r = Driver.COMPAT.put(store, m);
                        }
                        if (r.getPutMessageStatus() != PutMessageStatus.PUT_OK) o.notOk++;
                        n++;
                        if (n % 256 == 0) {
                            if (store.getMaxPhyOffset() - startOffset >= maxBytes) break;
                            now = System.nanoTime();
                        }
                    }
                    o.messages = n;
                    o.endNanos = now;
                } catch (Throwable e) {
                    synchronized (err) {
                        err[0] = e;
                    }
                }
            }, "bench-w" + t);
            ts.add(w);
            w.start();
        }
        barrier.await();
        startNanos[0] = System.nanoTime();
        PutOutcome all = new PutOutcome();
        all.endNanos = startNanos[0];
        for (int t = 0; t < threads; t++) {
            ts.get(t).join();
            all.lat.addAll(outs[t].lat);
            all.messages += outs[t].messages;
            all.notOk += outs[t].notOk;
            all.endNanos = Math.max(all.endNanos, outs[t].endNanos);
        }
        if (err[0] != null) throw new IllegalStateException("a writer failed", err[0]);
        return all;
    }

    static void benchPut(String[] args, PrintStream out) throws Exception {
        Map<String, String> o = opts(args);
        Path root = Paths.get(need(o, "store"));
        boolean sync = need(o, "flush").equals("SYNC_FLUSH");
        boolean transientPool = Boolean.parseBoolean(o.getOrDefault("transient", "false"));
        int size = (int) num(o, "body");
        int threads = (int) num(o, "threads");
        int queues = (int) num(o, "queues");
        double seconds = Double.parseDouble(need(o, "seconds"));
        double warmup = Double.parseDouble(o.getOrDefault("warmup-seconds", "1"));
        long maxMessages = num(o, "max-messages");
        long maxBytes = num(o, "max-bytes");
        long[] start = new long[1];
        long warmMessages = 0;
        if (warmup > 0) {
            Path w = root.resolve("warmup");
            DefaultMessageStore ws = Driver.open(config(w.toString(), o, sync, transientPool));
            warmMessages = putLoop(ws, threads, size, queues, warmup, maxMessages, maxBytes, start).messages;
            ws.shutdown();
            ws.destroy();
            deleteTree(w);
        }
        Path m = root.resolve("measured");
        long tOpen = System.nanoTime();
        DefaultMessageStore store = Driver.open(config(m.toString(), o, sync, transientPool));
        double openMs = (System.nanoTime() - tOpen) / 1e6;
        long startOffset = store.getMaxPhyOffset();
        PutOutcome r = putLoop(store, threads, size, queues, seconds, maxMessages, maxBytes, start);
        double secs = Math.max(1e-9, (r.endNanos - start[0]) / 1e9);
        long tClose = System.nanoTime();
        store.shutdown();
        double shutdownMs = (System.nanoTime() - tClose) / 1e6;
        // After shutdown: with the transient pool the max offset counts only what was committed
        // into the file, and the shutdown commits the rest.
        long bytes = store.getMaxPhyOffset() - startOffset;
        JsonObject j = header("bench-put");
        j.addProperty("flush", sync ? "SYNC_FLUSH" : "ASYNC_FLUSH");
        j.addProperty("transient_store_pool", transientPool);
        j.addProperty("body_size", size);
        j.addProperty("threads", threads);
        j.addProperty("warmup_seconds", warmup);
        j.addProperty("warmup_messages", warmMessages);
        j.addProperty("messages", r.messages);
        j.addProperty("not_ok", r.notOk);
        j.addProperty("seconds", secs);
        j.addProperty("msgs_per_s", r.messages / secs);
        j.addProperty("mb_per_s", bytes / secs / 1e6);
        j.addProperty("record_bytes", r.messages == 0 ? 0 : (double) bytes / r.messages);
        j.add("latency_us", r.lat.micros());
        j.addProperty("open_ms", openMs);
        j.addProperty("shutdown_ms", shutdownMs);
        out.println(Driver.GSON.toJson(j));
    }

    // ---- bench-get ---------------------------------------------------------------------------

    /** Java's broker-side tag filter (ExpressionMessageFilter with a TAG subscription): the
     * consume-queue unit's tags code against the subscribed tag's hashCode; the commit log is not asked. */
    static final class TagCodeFilter implements MessageFilter {
        final int code;

        TagCodeFilter(String tag) {
            this.code = tag.hashCode();
        }

        @Override
        public boolean isMatchedByConsumeQueue(Long tagsCode, ConsumeQueueExt.CqExtUnit cqExtUnit) {
            return tagsCode != null && tagsCode.intValue() == code;
        }

        @Override
        public boolean isMatchedByCommitLog(ByteBuffer msgBuffer, Map<String, String> properties) {
            return true;
        }
    }

    static final class GetOutcome {
        Samples lat = new Samples();
        long messages, batches, bytes;
        long startNanos, endNanos;
    }

    /** One getMessage call, timed (every batch is, as in rmqstore's bench); records copied out once
     * into buf (as sending them would). */
    static GetMessageStatus getBatch(DefaultMessageStore store, int q, long off, int batch, MessageFilter f,
                                     byte[] buf, GetOutcome o, long[] next) {
        long t0 = System.nanoTime();
        GetMessageResult r = store.getMessage("bench", TOPIC, q, off, batch, f);
        if (r == null) throw new IllegalStateException("getMessage returned null (store not readable)");
        int pos = 0, count = 0;
        for (ByteBuffer b : r.getMessageBufferList()) {
            int len = b.remaining();
            if (pos + len > buf.length) throw new IllegalStateException("a batch larger than " + buf.length + " bytes");
            b.get(buf, pos, len);
            pos += len;
            count++;
        }
        GetMessageStatus st = r.getStatus();
        next[0] = r.getNextBeginOffset();
        r.release();
        long now = System.nanoTime();
        if (count > 0) {
            o.lat.add(now - t0);
            o.messages += count;
            o.batches++;
            o.bytes += pos;
        }
        o.endNanos = now;
        return st;
    }

    static GetOutcome consume(DefaultMessageStore store, int threads, int batch, int queues, long perQueue,
                              boolean behind, MessageFilter f, double seconds, long maxBatches, boolean warm)
        throws Exception {
        CyclicBarrier barrier = new CyclicBarrier(threads + 1);
        GetOutcome[] outs = new GetOutcome[threads];
        Throwable[] err = new Throwable[1];
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int th = t;
            outs[t] = new GetOutcome();
            Thread c = new Thread(() -> {
                try {
                    GetOutcome o = outs[th];
                    long seed = 0x9E3779B97F4A7C15L ^ ((long) (th + 1) << 32);
                    byte[] buf = new byte[1 << 20];
                    int q = th % queues;
                    long sharers = (threads + queues - 1) / queues;
                    long next = (th / queues) * (perQueue / 2) / sharers;
                    long[] nb = new long[1];
                    // Warm-up reads come from the newest tenth of the queues.
                    long lo = warm ? perQueue - perQueue / 10 : 0;
                    barrier.await();
                    o.startNanos = System.nanoTime();
                    o.endNanos = o.startNanos;
                    long deadline = o.startNanos + (long) (seconds * 1e9);
                    while (o.batches < maxBatches && o.endNanos < deadline) {
                        if (behind && !warm) {
                            GetMessageStatus st = getBatch(store, q, next, batch, f, buf, o, nb);
                            if (st != GetMessageStatus.FOUND && !(f != null && st == GetMessageStatus.NO_MATCHED_MESSAGE)) {
                                throw new IllegalStateException("read behind: queue " + q + " offset " + next + ": " + st);
                            }
                            next = nb[0] + batch >= perQueue ? 0 : nb[0];
                        } else {
                            seed ^= seed << 13;
                            seed ^= seed >>> 7;
                            seed ^= seed << 17;
                            int qq = (int) Long.remainderUnsigned(seed, queues);
                            seed ^= seed << 13;
                            seed ^= seed >>> 7;
                            seed ^= seed << 17;
                            long span = Math.max(1, perQueue - batch - lo);
                            long off = lo + Long.remainderUnsigned(seed, span);
                            long before = o.messages;
                            GetMessageStatus st = getBatch(store, qq, off, batch, f, buf, o, nb);
                            boolean ok = f == null
                                ? st == GetMessageStatus.FOUND && o.messages - before == batch
                                : st == GetMessageStatus.FOUND || st == GetMessageStatus.NO_MATCHED_MESSAGE;
                            if (!ok) {
                                throw new IllegalStateException("read: queue " + qq + " offset " + off + ": " + st
                                    + ", " + (o.messages - before) + " messages");
                            }
                        }
                    }
                } catch (Throwable e) {
                    synchronized (err) {
                        err[0] = e;
                    }
                }
            }, "bench-r" + t);
            ts.add(c);
            c.start();
        }
        barrier.await();
        GetOutcome all = new GetOutcome();
        all.startNanos = Long.MAX_VALUE;
        for (int t = 0; t < threads; t++) {
            ts.get(t).join();
            GetOutcome o = outs[t];
            all.lat.addAll(o.lat);
            all.messages += o.messages;
            all.batches += o.batches;
            all.bytes += o.bytes;
            all.startNanos = Math.min(all.startNanos, o.startNanos);
            all.endNanos = Math.max(all.endNanos, o.endNanos);
        }
        if (err[0] != null) throw new IllegalStateException("a consumer failed", err[0]);
        return all;
    }

    static void waitDispatched(DefaultMessageStore store, int queues, long n) throws Exception {
        for (int i = 0; i < 60000; i++) {
            long d = 0;
            for (int q = 0; q < queues; q++) d += store.getMaxOffsetInQueue(TOPIC, q);
            if (d >= n) return;
            Thread.sleep(1);
        }
        throw new IllegalStateException("messages not in their consume queues after 60 s");
    }

    static void benchGet(String[] args, PrintStream out) throws Exception {
        Map<String, String> o = opts(args);
        String root = need(o, "store");
        boolean behind = need(o, "place").equals("behind");
        boolean filtered = !o.getOrDefault("filter", "none").equals("none");
        int threads = (int) num(o, "threads");
        int batch = (int) num(o, "batch");
        int queues = (int) num(o, "queues");
        int size = (int) num(o, "body");
        double seconds = Double.parseDouble(need(o, "seconds"));
        double warmup = Double.parseDouble(o.getOrDefault("warmup-seconds", "1"));
        long maxBatches = num(o, "max-batches");
        DefaultMessageStore store = Driver.open(config(root, o, false, false));
        long have = 0;
        for (int q = 0; q < queues; q++) have += store.getMaxOffsetInQueue(TOPIC, q);
        if (o.containsKey("fill-bytes") && have == 0) {
            // A fresh store: filled as rmqstore's read cells fill theirs (one writer, tags TagA..TagD).
            byte[] body = new byte[size];
            Arrays.fill(body, (byte) 'r');
            long fill = num(o, "fill-bytes"), n = 0, start = store.getMaxPhyOffset();
            while (store.getMaxPhyOffset() - start < fill) {
                PutMessageResult r = Driver.COMPAT.put(store, message(0, n, queues, body, readTag(n)));
                if (!r.isOk()) throw new IllegalStateException("fill: put " + n + " was " + r.getPutMessageStatus());
                n++;
            }
            have = n;
        }
        waitDispatched(store, queues, have);
        long perQueue = o.containsKey("per-queue") ? num(o, "per-queue") : have / queues;
        MessageFilter f = filtered ? new TagCodeFilter("TagA") : null;
        if (warmup > 0) consume(store, threads, batch, queues, perQueue, behind, f, warmup, Long.MAX_VALUE, true);
        long storeBytes = store.getMaxPhyOffset();
        AtomicBoolean stop = new AtomicBoolean();
        long[] wrote = new long[1];
        Thread writer = null;
        if (behind) {
            final long base = have;
            writer = new Thread(() -> {
                byte[] body = new byte[size];
                Arrays.fill(body, (byte) 'w');
                long k = base;
                while (!stop.get()) {
                    Driver.COMPAT.put(store, message(1, k, queues, body, readTag(k)));
                    k++;
                }
                wrote[0] = k - base;
            }, "bench-rw");
            writer.start();
        }
        GetOutcome g;
        try {
            g = consume(store, threads, batch, queues, perQueue, behind, f, seconds, maxBatches, false);
        } finally {
            stop.set(true);
            if (writer != null) writer.join();
        }
        long writerBytes = store.getMaxPhyOffset() - storeBytes;
        if (behind) waitDispatched(store, queues, have + wrote[0]);
        store.shutdown();
        double secs = Math.max(1e-9, (g.endNanos - g.startNanos) / 1e9);
        JsonObject j = header("bench-get");
        j.addProperty("place", behind ? "behind" : "hot");
        j.addProperty("filter", filtered ? "tag" : "none");
        j.addProperty("threads", threads);
        j.addProperty("batch", batch);
        j.addProperty("warmup_seconds", warmup);
        j.addProperty("messages", g.messages);
        j.addProperty("batches", g.batches);
        j.addProperty("bytes", g.bytes);
        j.addProperty("seconds", secs);
        j.addProperty("msgs_per_s", g.messages / secs);
        j.addProperty("gb_per_s", g.bytes / secs / 1e9);
        j.add("latency_us", g.lat.micros());
        j.addProperty("store_bytes", storeBytes);
        j.addProperty("writer_bytes", writerBytes);
        out.println(Driver.GSON.toJson(j));
    }
}
