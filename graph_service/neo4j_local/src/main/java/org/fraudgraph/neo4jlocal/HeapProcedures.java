package org.fraudgraph.neo4jlocal;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.util.stream.Stream;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Procedure;

/**
 * {@code CALL fraudgraph.heap.gc()}: a full garbage collection, then the heap it leaves.
 *
 * <p>GDS's memory guard compares an estimate with the heap free <em>now</em>, which counts
 * garbage not yet collected (a dropped projection, say) as used: a run right after a large
 * projection can be refused though it fits. The GDS engine calls this once after such a
 * refusal and retries. Registered by the launcher; a production server does not have it, and
 * the engine then retries on "max heap minus live data" instead (see gds.py).
 */
public final class HeapProcedures {

    /** One row: the heap after the collection. */
    public static final class HeapAfterGc {
        public long usedBytes;
        public long maxBytes;
        public long freeBytes;
        public long collectMillis;
    }

    @Procedure(name = "fraudgraph.heap.gc", mode = Mode.READ)
    @Description("Runs a full garbage collection (System.gc()) and returns the heap it leaves.")
    public Stream<HeapAfterGc> gc() {
        long started = System.nanoTime();
        System.gc();
        MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        HeapAfterGc row = new HeapAfterGc();
        row.usedBytes = heap.getUsed();
        row.maxBytes = heap.getMax();
        row.freeBytes = heap.getMax() - heap.getUsed();
        row.collectMillis = (System.nanoTime() - started) / 1_000_000;
        return Stream.of(row);
    }
}
