using System.Runtime.CompilerServices;

// Tests inject a fixed salt to reproduce the vectors in docs/format.md; the benchmark measures the
// raw keystream and record primitives against the end-to-end streams.
[assembly: InternalsVisibleTo("Detach.Crypto.Tests")]
[assembly: InternalsVisibleTo("Detach.Bench")]
