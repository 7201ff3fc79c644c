package sqlite

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/storetest"
)

// schemaVariant is one shape of the store measured by
// BenchmarkIngestSchema: statements run on a copy of the seeded store,
// and a change to the events inserted.
type schemaVariant struct {
	name   string
	ddl    []string
	mutate func(*hookbox.Event)
	packed bool // headers in headers_packed (0013), else JSON as before
}

// beforeLean turns the indexes back into what they were before migration
// 0013 (and 0014) (the reference, "main", which also writes headers as JSON): the
// seeded store is built in it, so its indexes have the shape long ingest
// leaves, and the variants change that store as a migration would.
var beforeLean = []string{
	`DROP INDEX events_received`, `CREATE INDEX events_received ON events (received_at DESC, id DESC)`,
	`CREATE INDEX events_type ON events (type, received_at DESC, id DESC)`, // dropped by 0014
	`DROP INDEX events_dead`,
	`DROP INDEX events_queue`,
	`CREATE INDEX events_queue ON events (next_attempt_at, received_at) WHERE state IN ('pending', 'delivering')`,
	`CREATE INDEX events_state_next_attempt ON events (state, next_attempt_at)`,
}

// schemaVariants are the shapes BenchmarkIngestSchema compares; the first
// is the reference. HOOKBOX_BENCH_VARIANTS (names, comma-separated) picks
// some; the reference always runs.
var schemaVariants = []schemaVariant{
	{name: "main"},
	{name: "0013", ddl: []string{leanIndexes()}, packed: true},
	{name: "0013-indexes-only", ddl: []string{leanIndexes()}},
	{name: "packed-headers-only", packed: true},
	{name: "no-state-index", ddl: []string{`DROP INDEX events_state_next_attempt`}},
	{name: "no-type-index", ddl: []string{`DROP INDEX events_type`}},
	{name: "no-received-index", ddl: []string{`DROP INDEX events_received`}},
	{name: "no-headers", mutate: func(ev *hookbox.Event) { ev.Headers = nil }},
	{name: "received-asc", ddl: []string{`DROP INDEX events_received`, `CREATE INDEX events_received ON events (received_at, id)`}},
	{name: "type-asc", ddl: []string{`DROP INDEX events_type`, `CREATE INDEX events_type ON events (type, received_at, id)`}},
	{name: "type-asc-no-id", ddl: []string{`DROP INDEX events_type`, `CREATE INDEX events_type ON events (type, received_at)`}},
	{name: "0013-type-no-id", packed: true, ddl: []string{leanIndexes(), `DROP INDEX events_type`, `CREATE INDEX events_type ON events (type, received_at)`}},
	{name: "0013-no-type-index", packed: true, ddl: []string{leanIndexes(), `DROP INDEX events_type`}},
	{name: "0014", packed: true, ddl: []string{leanIndexes(), migrationSQL("0014_type_in_received.sql")}},
}

// migrationSQL is the text of one migration.
func migrationSQL(name string) string {
	b, err := migrationFS.ReadFile("migrations/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// leanIndexes is migration 0013 but its new column, which the seeded
// store has (and the reference leaves NULL).
func leanIndexes() string {
	b, err := migrationFS.ReadFile("migrations/0013_lean.sql")
	if err != nil {
		panic(err)
	}
	return strings.Replace(string(b), "ALTER TABLE events ADD COLUMN headers_packed BLOB;", "", 1)
}

// BenchmarkIngestSchema measures what the schema costs at ingest: batches
// of 256 events with random 24-character ids (as Stripe's) and
// storetest.BenchBody bodies, inserted by InsertEvents into copies of one
// store that already holds HOOKBOX_BENCH_SEED events (100,000), each copy
// changed by one schemaVariant. The copies take turns, a batch each (the
// order rotates), so every variant meets the same machine; it
// reports each variant's wall time, the writer's time (InsertEvents from
// BEGIN to COMMIT) and the process CPU per event, each as a ratio to the
// reference's, and the file bytes each event added.
//
// With HOOKBOX_BENCH_DRAIN set, it then measures the store's side of a
// drain the same way (benchDrain). HOOKBOX_BENCH_ROUNDS (5) and
// HOOKBOX_BENCH_BATCHES (20 per round) set the length:
//
//	HOOKBOX_BENCH_DRAIN=1 HOOKBOX_BENCH_VARIANTS=0013 HOOKBOX_BENCH_ROUNDS=15 \
//		go test -run '^$' -bench IngestSchema -benchtime 1x ./sqlite/
func BenchmarkIngestSchema(b *testing.B) {
	const batch = 256
	seedN := envInt("HOOKBOX_BENCH_SEED", 100_000)
	rounds := envInt("HOOKBOX_BENCH_ROUNDS", 5)
	perRound := envInt("HOOKBOX_BENCH_BATCHES", 20) // batches per variant per round
	variants := pickVariants(os.Getenv("HOOKBOX_BENCH_VARIANTS"))
	ctx := context.Background()
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))

	seed := filepath.Join(dir, "seed.db")
	s, err := Open(seed)
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range beforeLean {
		if _, err := s.writer.ExecContext(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	s.headersJSON = true
	for n := 0; n < seedN; n += batch {
		if _, err := s.InsertEvents(ctx, benchBatch(rng, batch, nil)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}

	stores := make([]*Store, len(variants))
	for i, v := range variants {
		path := filepath.Join(dir, v.name+".db")
		copyFile(b, seed, path)
		if _, err := os.Stat(seed + "-wal"); err == nil {
			copyFile(b, seed+"-wal", path+"-wal")
		}
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for _, q := range v.ddl {
			if _, err := s.writer.ExecContext(ctx, q); err != nil {
				b.Fatalf("%s: %s: %v", v.name, q, err)
			}
		}
		s.headersJSON = !v.packed
		stores[i] = s
	}
	pages := func(s *Store) int64 {
		var n int64
		if err := s.writer.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count, pragma_page_size`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	startBytes := make([]int64, len(variants))
	for i, s := range stores {
		startBytes[i] = pages(s)
	}

	// Per variant and round, the time summed over the round's batches.
	wall, writer, cpu := make([][]time.Duration, len(variants)), make([][]time.Duration, len(variants)), make([][]time.Duration, len(variants))
	for i := range variants {
		wall[i], writer[i], cpu[i] = make([]time.Duration, rounds), make([]time.Duration, rounds), make([]time.Duration, rounds)
	}
	b.ResetTimer()
	for step := range rounds * perRound {
		r := step / perRound
		evs := make([][]*hookbox.Event, len(variants))
		for i, v := range variants {
			evs[i] = benchBatch(rng, batch, v.mutate)
		}
		for k := range variants {
			i := (k + step) % len(variants)
			c0, t0, w0 := processCPU(), time.Now(), stores[i].insertNanos.Load()
			if _, err := stores[i].InsertEvents(ctx, evs[i]); err != nil {
				b.Fatal(err)
			}
			wall[i][r] += time.Since(t0)
			writer[i][r] += time.Duration(stores[i].insertNanos.Load() - w0)
			cpu[i][r] += processCPU() - c0
		}
	}
	b.StopTimer()
	events := float64(rounds * perRound * batch)
	benchf("%d events stored before; %d rounds of %d batches of %d events per variant, one batch of each in turn; per event: medians of the rounds; x/ref: median of the rounds' ratios (total's ratio)",
		seedN, rounds, perRound, batch)
	benchf("%-20s %9s %9s %9s %8s %14s %14s %14s", "variant", "us/event", "writer us", "cpu us", "B/event", "time/ref", "writer/ref", "cpu/ref")
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(perRound*batch) }
	ratios := func(a, ref []time.Duration) string {
		return fmt.Sprintf("%.3f (%.3f)", ratioMedian(a, ref), float64(sum(a))/float64(sum(ref)))
	}
	for i, v := range variants {
		benchf("%-20s %9.1f %9.1f %9.1f %8.0f %14s %14s %14s", v.name,
			per(median(wall[i])), per(median(writer[i])), per(median(cpu[i])),
			float64(pages(stores[i])-startBytes[i])/events,
			ratios(wall[i], wall[0]), ratios(writer[i], writer[0]), ratios(cpu[i], cpu[0]))
	}
	for i, v := range variants {
		benchf("%-20s %s", v.name, storeLayout(b, stores[i]))
	}
	if os.Getenv("HOOKBOX_BENCH_DRAIN") != "" {
		benchDrain(b, variants, stores, rounds, perRound)
	}
	for i, v := range variants[1:] {
		b.ReportMetric(ratioMedian(wall[i+1], wall[0]), v.name+"/main-time")
		b.ReportMetric(ratioMedian(writer[i+1], writer[0]), v.name+"/main-writer")
		b.ReportMetric(ratioMedian(cpu[i+1], cpu[0]), v.name+"/main-cpu")
	}
}

// benchDrain measures the store's side of a drain in the stores of
// BenchmarkIngestSchema, which hold their events pending: a claim of 32
// events and the completion of each (one attempt, delivered), the
// variants taking turns a claim at a time as at ingest.
func benchDrain(b *testing.B, variants []schemaVariant, stores []*Store, rounds, perRound int) {
	const group = 32
	ctx := context.Background()
	now := time.Now().Add(time.Hour)
	wall := make([][]time.Duration, len(variants))
	for i := range wall {
		wall[i] = make([]time.Duration, rounds)
	}
	for step := range rounds * perRound {
		for k := range variants {
			i := (k + step) % len(variants)
			t0 := time.Now()
			claims, err := stores[i].ClaimEvents(ctx, "w1", now, time.Minute, group)
			if err != nil || len(claims) != group {
				b.Fatalf("ClaimEvents: %d, %v", len(claims), err)
			}
			cs := make([]hookbox.Completion, len(claims))
			for j, c := range claims {
				cs[j] = hookbox.Completion{EventID: c.Event.ID, Owner: "w1", Now: now,
					Attempts:   []hookbox.Attempt{{Destination: "forward", Number: 1, StartedAt: now, Duration: time.Millisecond, StatusCode: 200, OK: true}},
					Deliveries: []hookbox.Delivery{{Destination: "forward", State: hookbox.StateDelivered, Attempts: 1}}}
			}
			if _, err := stores[i].CompleteClaims(ctx, cs); err != nil {
				b.Fatal(err)
			}
			wall[i][step/perRound] += time.Since(t0)
		}
	}
	benchf("drain: %d rounds of %d claims of %d events, each completed, per variant, one claim of each in turn", rounds, perRound, group)
	benchf("%-20s %9s %14s", "variant", "us/event", "time/ref")
	for i, v := range variants {
		benchf("%-20s %9.1f %6.3f (%.3f)", v.name, float64(median(wall[i]).Microseconds())/float64(perRound*group),
			ratioMedian(wall[i], wall[0]), float64(sum(wall[i]))/float64(sum(wall[0])))
	}
}

// storeLayout lists the b-trees of s that take more than 1% of the file,
// largest first: bytes per event (pages, so fill included) and how full
// their pages are (dbstat).
func storeLayout(b *testing.B, s *Store) string {
	rows, err := s.writer.Query(`SELECT name, sum(pgsize), sum(payload) * 1.0 / sum(pgsize),
		(SELECT count(*) FROM events) FROM dbstat GROUP BY name
		HAVING sum(pgsize) > (SELECT page_count * page_size FROM pragma_page_count, pragma_page_size) / 100
		ORDER BY 2 DESC`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		var size, n int64
		var fill float64
		if err := rows.Scan(&name, &size, &fill, &n); err != nil {
			b.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %.0f (%.2f)", name, float64(size)/float64(n), fill))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return "B/event (fill): " + strings.Join(out, ", ")
}

// benchBatch returns n events with random ids, changed by mutate.
func benchBatch(rng *rand.Rand, n int, mutate func(*hookbox.Event)) []*hookbox.Event {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	evs := make([]*hookbox.Event, n)
	for i := range evs {
		var id [24]byte
		for j := range id {
			id[j] = alnum[rng.IntN(len(alnum))]
		}
		ev := storetest.BenchEvent(0)
		ev.ID = "evt_" + string(id[:])
		ev.Body = storetest.BenchBody(ev.ID)
		if mutate != nil {
			mutate(ev)
		}
		evs[i] = ev
	}
	return evs
}

func pickVariants(names string) []schemaVariant {
	if names == "" {
		return schemaVariants
	}
	out := schemaVariants[:1:1]
	for _, v := range schemaVariants[1:] {
		if slices.Contains(strings.Split(names, ","), v.name) {
			out = append(out, v)
		}
	}
	return out
}

// ratioMedian is the median over rounds of a[r]/b[r]: each round's
// variants ran back to back, so the ratio of a round is of one moment of
// the machine.
func ratioMedian(a, b []time.Duration) float64 {
	rs := make([]float64, len(a))
	for i := range a {
		rs[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(rs)
	return rs[len(rs)/2]
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// processCPU is the user and system time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	in, err := os.Open(from)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
}

// benchf prints a line of the benchmark's report to stdout: b.Logf
// truncates a benchmark's log after a few lines.
func benchf(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
}
