using Detach.Fuzz;
using SharpFuzz;

// fuzz/run.sh drives this program; see docs/fuzzing.md.
//   afl <target>              under afl-fuzz (the assemblies instrumented by sharpfuzz)
//   seeds <target> <dir>      writes the target's seeds into dir
//   regress [target...]       every target (or those named) over its seeds and saved findings, no AFL
//   run <target> <file...>    one input at a time, printing what escaped (to reproduce a finding)
//   list                      the targets and what each checks
//   rewrite <file>            the MIME rewrite of one message to stdout (to look at a mime-rewrite finding)
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: Detach.Fuzz afl|seeds|regress|run|list ...");
    return 64;
}

FuzzTarget Target(string name) => FuzzTargets.Find(name) ?? throw new ArgumentException($"No fuzz target '{name}'; try list.");

switch (args[0])
{
    case "afl":
        var target = Target(args[1]);
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target.Run(buffer.ToArray());
        });
        return 0;
    case "seeds":
        Directory.CreateDirectory(args[2]);
        foreach (var (name, data) in Target(args[1]).Seeds())
        {
            File.WriteAllBytes(Path.Combine(args[2], name), data);
        }
        return 0;
    case "regress":
        var failed = 0;
        foreach (var t in args.Length > 1 ? args.Skip(1).Select(Target) : FuzzTargets.All)
        {
            var failures = Regression.Run(t, out var count);
            Console.WriteLine($"{t.Name}: {count} inputs, {failures.Count} failing");
            failures.ForEach(Console.WriteLine);
            failed += failures.Count;
        }
        return failed == 0 ? 0 : 1;
    case "run":
        var one = Target(args[1]);
        var bad = 0;
        foreach (var file in args.Skip(2))
        {
            var failure = Regression.Describe(one, File.ReadAllBytes(file));
            Console.WriteLine($"{file}: {failure ?? "holds"}");
            bad += failure is null ? 0 : 1;
        }
        return bad == 0 ? 0 : 1;
    case "rewrite":
        var rewritten = new MemoryStream();
        var prepared = await new Detach.Mime.MimeRewriter(new Detach.Mime.DetachPolicyOptions { MinSizeBytes = 0 }, new Detach.Mime.Tests.RecordingSink())
            .PrepareAsync(File.OpenRead(args[1]), CancellationToken.None);
        await prepared.WriteToAsync(rewritten, CancellationToken.None);
        Console.OpenStandardOutput().Write(rewritten.ToArray());
        return 0;
    case "list":
        foreach (var t in FuzzTargets.All)
        {
            Console.WriteLine($"{t.Name,-16} {t.Invariant}");
        }
        return 0;
    default:
        Console.Error.WriteLine($"unknown command {args[0]}");
        return 64;
}
