package dev.changepipe.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The replication service run as a user runs it: {@code ./pipeline run --config FILE} (built
 * beforehand, {@code PIPELINE_SKIP_BUILD=1}) in its own JVM, under {@code /usr/bin/time} for its CPU
 * time and peak RSS, with {@code -Xlog:gc,gc+heap+exit} for its peak heap. Its output goes to a log
 * file in the scenario's directory.
 */
final class ServiceProcess {

    private static final Pattern GC_PAUSE = Pattern.compile("(\\d+)([KMG])->\\d+[KMG]\\(\\d+[KMG]\\)");
    private static final Pattern HEAP_AT_EXIT = Pattern.compile("heap\\s+total \\d+K, used (\\d+)K");

    /**
     * What a finished run measured. {@code seconds}: from launching the process to its exit;
     * {@code cpuSeconds}: user + system CPU time of the JVM; {@code peakHeapMb}: the highest heap
     * occupancy the GC log shows (before a collection, or at exit).
     */
    record Result(int exitCode, double seconds, double cpuSeconds, long peakRssMb, long peakHeapMb, double startupSeconds,
            String log) {

        /** The extra fields every service line carries: {@code peak_rss_mb=... startup_s=...}. */
        String extraFields() {
            return "peak_rss_mb=" + peakRssMb + " startup_s=" + EndToEndRun.fmt(startupSeconds, 2);
        }
    }

    private final Process process;
    private final long started;
    private final long startedAtMillis;
    private final Path timeFile;
    private final Path gcLog;
    private final Path logFile;

    private ServiceProcess(Process process, long started, long startedAtMillis, Path timeFile, Path gcLog, Path logFile) {
        this.process = process;
        this.started = started;
        this.startedAtMillis = startedAtMillis;
        this.timeFile = timeFile;
        this.gcLog = gcLog;
        this.logFile = logFile;
    }

    /** Launches {@code root/pipeline run --config config}; {@code javaOpts} are added to the JVM's options. */
    static ServiceProcess start(Path root, Path dir, Path config, String javaOpts) throws IOException {
        return start(root, dir, "service", javaOpts, List.of("run", "--config", config.toString()));
    }

    /**
     * Launches {@code root/pipeline <arguments>} (any command of the launcher, such as {@code verify
     * --config FILE}); its output, time and GC log go to {@code dir/<name>.log}, {@code .time}, {@code
     * .gc.log}.
     */
    static ServiceProcess start(Path root, Path dir, String name, String javaOpts, List<String> arguments)
            throws IOException {
        Path timeFile = dir.resolve(name + ".time");
        Path gcLog = dir.resolve(name + ".gc.log");
        Path logFile = dir.resolve(name + ".log");
        List<String> command = new java.util.ArrayList<>(List.of("/usr/bin/time", "-o", timeFile.toString(), "-f",
                "%e %U %S %M", root.resolve("pipeline").toString()));
        command.addAll(arguments);
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(logFile.toFile());
        pb.environment().put("PIPELINE_SKIP_BUILD", "1");
        pb.environment().put("PIPELINE_JAVA_OPTS",
                ("-Xlog:gc,gc+heap+exit:file=" + gcLog + " " + javaOpts).trim());
        long startedAtMillis = System.currentTimeMillis();
        long started = System.nanoTime();
        return new ServiceProcess(pb.start(), started, startedAtMillis, timeFile, gcLog, logFile);
    }

    /** The JVM (the launcher execs it under {@code time}). */
    private Optional<ProcessHandle> jvm() {
        return process.toHandle().children().findFirst();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** User + system CPU seconds the JVM used so far (all its threads, from /proc); -1 when unknown. */
    double cpuSecondsSoFar() {
        return jvm().map(p -> {
            try {
                String stat = Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat"));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // clock ticks (USER_HZ 100)
            } catch (IOException | RuntimeException e) {
                return -1.0;
            }
        }).orElse(-1.0);
    }

    /** SIGTERM to the JVM: it drains, saves its checkpoints and exits. */
    void terminate() {
        jvm().ifPresent(ProcessHandle::destroy);
    }

    /** Waits for the exit; kills the JVM and fails when that takes longer than {@code timeout}. */
    Result await(Duration timeout) throws IOException, InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            jvm().ifPresent(ProcessHandle::destroyForcibly);
            process.waitFor(30, TimeUnit.SECONDS);
            throw new IllegalStateException("the service did not exit within " + timeout + "; its log: " + logFile);
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        List<String> time = Files.readAllLines(timeFile, StandardCharsets.UTF_8);
        String[] f = time.get(time.size() - 1).trim().split(" ");
        double cpu = Double.parseDouble(f[1]) + Double.parseDouble(f[2]);
        long rssMb = Long.parseLong(f[3]) / 1024;
        String log = Files.readString(logFile);
        return new Result(process.exitValue(), seconds, cpu, rssMb, peakHeapMb(), startupSeconds(log), log);
    }

    /** From launching the process to the service's {@code service: started} log line; -1 when absent. */
    private double startupSeconds(String log) {
        for (String line : log.lines().toList()) {
            if (line.contains("service: started")) {
                try {
                    return (Instant.parse(line.substring(0, line.indexOf(' '))).toEpochMilli() - startedAtMillis) / 1000.0;
                } catch (RuntimeException noTimestamp) {
                    return -1;
                }
            }
        }
        return -1;
    }

    private long peakHeapMb() throws IOException {
        if (!Files.exists(gcLog)) {
            return -1;
        }
        long peakKb = 0;
        for (String line : Files.readAllLines(gcLog, StandardCharsets.UTF_8)) {
            Matcher pause = GC_PAUSE.matcher(line);
            if (line.contains("Pause") && pause.find()) {
                long v = Long.parseLong(pause.group(1));
                peakKb = Math.max(peakKb, switch (pause.group(2)) {
                    case "K" -> v;
                    case "M" -> v << 10;
                    default -> v << 20;
                });
            }
            Matcher exit = HEAP_AT_EXIT.matcher(line);
            if (exit.find()) {
                peakKb = Math.max(peakKb, Long.parseLong(exit.group(1)));
            }
        }
        return (peakKb + 1023) >> 10;
    }

    Path logFile() {
        return logFile;
    }
}
