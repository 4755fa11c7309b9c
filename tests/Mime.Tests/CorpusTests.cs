using System.Text;

namespace Detach.Mime.Tests;

public class CorpusTests
{
    [Fact]
    public async Task Every_corpus_message_is_rewritten_and_rereads_to_the_same_tree()
    {
        string dir = Corpus.RequireDirectory();
        var failures = new List<string>();
        int total = 0, withDetach = 0, detachedParts = 0, skipped = 0, unchanged = 0;
        var skippedReasons = new Dictionary<string, int>();
        foreach (var file in Corpus.Files(dir))
        {
            total++;
            string rel = Path.GetRelativePath(dir, file);
            byte[] input = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
            try
            {
                var (output, result, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions(), sink: new RecordingSink());
                if (result.SkippedReason is not null)
                {
                    skipped++;
                    skippedReasons[result.SkippedReason] = skippedReasons.GetValueOrDefault(result.SkippedReason) + 1;
                }
                if (result.Detached.Count == 0)
                {
                    unchanged++;
                    if (result.SkippedReason is null && !output.AsSpan().SequenceEqual(input)) failures.Add($"{rel}: nothing detached but output differs");
                    continue;
                }
                withDetach++;
                detachedParts += result.Detached.Count;
                var problems = await TreeComparison.CompareAsync(input, output, sink);
                failures.AddRange(problems.Select(p => $"{rel}: {p}"));
            }
            catch (Exception ex)
            {
                failures.Add($"{rel}: {ex.GetType().Name}: {ex.Message}\n{ex.StackTrace}");
            }
        }
        TestContext.Current.SendDiagnosticMessage($"corpus: {total} messages, {withDetach} with detached parts ({detachedParts} parts), {unchanged} unchanged, {skipped} skipped ({string.Join(", ", skippedReasons.Select(kv => kv.Key + ": " + kv.Value))})");
        TestContext.Current.TestOutputHelper?.WriteLine($"corpus: {total} messages, {withDetach} with detached parts ({detachedParts} parts), {unchanged} unchanged, {skipped} skipped ({string.Join(", ", skippedReasons.Select(kv => kv.Key + ": " + kv.Value))})");
        Assert.True(total >= 600, $"expected the 615-message corpus, found {total}");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(40)) + $"\n({failures.Count} failures)");
    }
}
