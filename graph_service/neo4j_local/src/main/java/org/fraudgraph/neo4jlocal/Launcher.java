package org.fraudgraph.neo4jlocal;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.kernel.api.procedure.GlobalProcedures;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * Runs an embedded Neo4j Community DBMS with the Bolt connector on 127.0.0.1 and the Graph Data
 * Science procedures, for development and tests.
 *
 * <p>Options (each also read from an environment variable; the argument wins):
 *
 * <pre>
 *   --port N              NEO4J_LOCAL_PORT          Bolt port on 127.0.0.1 (default 7687)
 *   --data-dir PATH       NEO4J_LOCAL_DATA_DIR      Neo4j home: data/ and logs/ go here (required)
 *   --plugins-dir PATH    NEO4J_LOCAL_PLUGINS_DIR   procedure jars (default: plugins/ next to this jar)
 *   --page-cache SIZE     NEO4J_LOCAL_PAGE_CACHE    page cache, e.g. 64m (default 128m)
 *   --auth on|off         NEO4J_LOCAL_AUTH          default: on when a password is given
 *   --password PW         NEO4J_LOCAL_PASSWORD      password set for user neo4j (prefer the env var)
 *   --setting KEY=VALUE                             any other Neo4j setting, repeatable
 * </pre>
 *
 * <p>Prints exactly one line {@code READY bolt://127.0.0.1:PORT} on stdout once Bolt accepts
 * connections. SIGTERM (or Ctrl-C) shuts the DBMS down cleanly. Exit status 2 means bad
 * arguments, 1 means the DBMS failed to start.
 */
public final class Launcher {

    /** The setting that names the default database (Community serves one user database). */
    private static final String DEFAULT_DATABASE_SETTING = "initial.dbms.default_database";
    private static final String DEFAULT_DATABASE = "neo4j";
    private static final long AVAILABLE_TIMEOUT_MS = TimeUnit.MINUTES.toMillis(5);

    private Launcher() {}

    public static void main(String[] args) {
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("neo4j-local: " + e.getMessage());
            System.exit(2);
            return;
        }
        try {
            run(options);
        } catch (Throwable e) {
            System.err.println("neo4j-local: failed to start: " + rootMessage(e));
            e.printStackTrace(System.err);
            System.err.flush();
            // halt, not exit: a half-started DBMS may hold non-daemon threads.
            Runtime.getRuntime().halt(1);
        }
    }

    private static void run(Options options) throws Exception {
        Files.createDirectories(options.dataDir);
        Files.createDirectories(options.pluginsDir);
        Path config = writeConfig(options.dataDir, options.neo4jSettings());

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(options.dataDir)
                .loadPropertiesFromFile(config)
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("neo4j-local: shutting down");
            try {
                dbms.shutdown();
            } finally {
                stopped.countDown();
                System.err.println("neo4j-local: stopped");
            }
        }, "neo4j-local-shutdown"));

        // A bulk import writes a new database and restarts the server with it as the default.
        String defaultDatabase = options.extraSettings.getOrDefault(DEFAULT_DATABASE_SETTING, DEFAULT_DATABASE);
        GraphDatabaseService db = dbms.database(defaultDatabase);
        if (!db.isAvailable(AVAILABLE_TIMEOUT_MS)) {
            throw new IllegalStateException("database '" + defaultDatabase + "' did not become available");
        }
        ((GraphDatabaseAPI) db).getDependencyResolver()
                .resolveDependency(GlobalProcedures.class)
                .registerProcedure(HeapProcedures.class);
        if (options.authEnabled) {
            setPassword(dbms, options.password);
        }
        awaitBolt(options.port);

        PrintStream out = System.out;
        out.println("READY bolt://127.0.0.1:" + options.port);
        out.flush();
        stopped.await();
    }

    /**
     * The builder takes raw "key=value" settings only from a file; writing conf/neo4j.conf also
     * leaves the effective configuration where a developer can read it.
     */
    private static Path writeConfig(Path dataDir, Map<String, String> settings) throws IOException {
        Path conf = dataDir.resolve("conf");
        Files.createDirectories(conf);
        StringBuilder text = new StringBuilder("# Generated by org.fraudgraph.neo4jlocal.Launcher on every start.\n");
        settings.forEach((key, value) -> text.append(key).append('=').append(value).append('\n'));
        Path file = conf.resolve("neo4j.conf");
        Files.writeString(file, text);
        return file;
    }

    private static void setPassword(DatabaseManagementService dbms, String password) {
        // Embedded access bypasses auth, so this works whatever the stored password is.
        try {
            dbms.database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException e) {
            // Restarting on an existing data dir with the same password is fine.
            if (!rootMessage(e).toLowerCase(Locale.ROOT).contains("cannot be the same")) {
                throw e;
            }
        }
    }

    private static void awaitBolt(int port) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("Bolt is not accepting on 127.0.0.1:" + port, e);
                }
                Thread.sleep(100);
            }
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage();
        return root.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    /** Parsed command line, with environment fallbacks. */
    private static final class Options {
        int port;
        Path dataDir;
        Path pluginsDir;
        String pageCache;
        boolean authEnabled;
        String password;
        final Map<String, String> extraSettings = new LinkedHashMap<>();

        static Options parse(String[] args) {
            Map<String, String> given = new LinkedHashMap<>();
            Options options = new Options();
            for (int i = 0; i < args.length; i++) {
                String name = args[i];
                if (!List.of("--port", "--data-dir", "--plugins-dir", "--page-cache", "--auth",
                        "--password", "--setting").contains(name)) {
                    throw new IllegalArgumentException("unknown option " + name);
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(name + " needs a value");
                }
                String value = args[++i];
                if (name.equals("--setting")) {
                    int eq = value.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("--setting expects KEY=VALUE, got " + value);
                    }
                    options.extraSettings.put(value.substring(0, eq).trim(), value.substring(eq + 1).trim());
                } else {
                    given.put(name, value);
                }
            }

            String port = pick(given, "--port", "NEO4J_LOCAL_PORT", "7687");
            try {
                options.port = Integer.parseInt(port);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--port must be an integer, got " + port);
            }
            if (options.port < 1 || options.port > 65535) {
                throw new IllegalArgumentException("--port must be in 1..65535, got " + port);
            }
            String dataDir = pick(given, "--data-dir", "NEO4J_LOCAL_DATA_DIR", null);
            if (dataDir == null || dataDir.isBlank()) {
                throw new IllegalArgumentException("--data-dir (or NEO4J_LOCAL_DATA_DIR) is required");
            }
            options.dataDir = Path.of(dataDir).toAbsolutePath().normalize();
            String plugins = pick(given, "--plugins-dir", "NEO4J_LOCAL_PLUGINS_DIR", null);
            options.pluginsDir = plugins == null ? defaultPluginsDir() : Path.of(plugins).toAbsolutePath().normalize();
            options.pageCache = pick(given, "--page-cache", "NEO4J_LOCAL_PAGE_CACHE", "128m");
            options.password = pick(given, "--password", "NEO4J_LOCAL_PASSWORD", null);
            if (options.password != null && options.password.isEmpty()) {
                options.password = null;
            }
            String auth = pick(given, "--auth", "NEO4J_LOCAL_AUTH", options.password == null ? "off" : "on");
            switch (auth.toLowerCase(Locale.ROOT)) {
                case "on", "true" -> options.authEnabled = true;
                case "off", "false" -> options.authEnabled = false;
                default -> throw new IllegalArgumentException("--auth must be on or off, got " + auth);
            }
            if (options.authEnabled && options.password == null) {
                throw new IllegalArgumentException("--auth on needs --password (or NEO4J_LOCAL_PASSWORD)");
            }
            return options;
        }

        Map<String, String> neo4jSettings() {
            String address = "127.0.0.1:" + port;
            Map<String, String> settings = new LinkedHashMap<>();
            settings.put("server.bolt.enabled", "true");
            settings.put("server.bolt.listen_address", address);
            settings.put("server.bolt.advertised_address", address);
            settings.put("server.memory.pagecache.size", pageCache);
            settings.put("server.directories.plugins", pluginsDir.toString());
            settings.put("dbms.security.procedures.unrestricted", "gds.*");
            settings.put("dbms.security.auth_enabled", Boolean.toString(authEnabled));
            settings.put("dbms.usage_report.enabled", "false");
            // Dev/test server: no 256 MiB pre-allocated transaction log files.
            settings.put("db.tx_log.preallocate", "false");
            // Netty waits a 5 s quiet period per Bolt event-loop group on shutdown (~10 s per stop);
            // nothing to drain on a dev/test server.
            settings.put("internal.dbms.bolt.netty_server_shutdown_quiet_period", "0");
            settings.putAll(extraSettings);
            return settings;
        }

        private static String pick(Map<String, String> given, String option, String env, String fallback) {
            String value = given.get(option);
            if (value == null) {
                value = System.getenv(env);
            }
            return value == null ? fallback : value;
        }

        private static Path defaultPluginsDir() {
            try {
                Path jar = Path.of(Launcher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
                return jar.getParent().resolve("plugins");
            } catch (URISyntaxException | RuntimeException e) {
                throw new IllegalArgumentException("cannot locate the plugins dir; pass --plugins-dir", e);
            }
        }
    }
}
