using Detach.Mime;
using Detach.Mime.Tests;
using Detach.Tests.Support;

namespace Detach.Fuzz.Targets;

/// <summary>The MIME reader and rewriter on any message, every attachment detached (MinSizeBytes 0).</summary>
internal sealed class MimeRewriteTarget : FuzzTarget
{
    private static readonly DetachPolicyOptions Policy = new() { MinSizeBytes = 0 };

    public override string Name => "mime-rewrite";

    public override string Invariant =>
        "never throws; unchanged mail is byte-identical; a rewrite re-reads to the same tree with only detached parts replaced";

    public override void Run(byte[] input) => RunAsync(input).GetAwaiter().GetResult();

    private static async Task RunAsync(byte[] input)
    {
        var sink = new RecordingSink();
        using var output = new MemoryStream();
        var result = await new MimeRewriter(Policy, sink).PrepareAsync(new MemoryStream(input, writable: false), CancellationToken.None);
        await result.WriteToAsync(output, CancellationToken.None);
        var rewritten = output.ToArray();
        Check(!result.Unchanged || rewritten.AsSpan().SequenceEqual(input), "a message reported unchanged is not byte-identical");
        if (result.Detached.Count == 0)
        {
            Check(result.SkippedReason is not null || result.LimitExceeded is not null || rewritten.AsSpan().SequenceEqual(input), "nothing detached, but the output differs from the input");
            return;
        }

        var problems = await TreeComparison.CompareAsync(input, rewritten, sink);
        Check(problems.Count == 0, string.Join("; ", problems));
    }

    /// <summary>The small messages of tests/corpus (AFL wants seeds of a few KiB), one or two per folder of each source.</summary>
    public override IEnumerable<(string Name, byte[] Data)> Seeds() =>
        TestCorpus.Messages.Where(m => m.Set == TestCorpus.RepositorySet)
            .Select(m => (Message: m, Size: new FileInfo(m.FullPath).Length))
            .Where(m => m.Size <= 6 * 1024)
            .GroupBy(m => Path.GetDirectoryName(m.Message.RelativePath))
            .SelectMany(g => g.OrderBy(m => m.Message.HasAttachment == "yes" ? 0 : 1).ThenBy(m => m.Size).Take(2))
            .Select(m => (m.Message.RelativePath.Replace('/', '_'), File.ReadAllBytes(m.Message.FullPath)));
}
