using System.Text;
using Detach.Tests.Support;

namespace Detach.Mime.Tests;

/// <summary>
/// Corpus messages broken on purpose (truncated, lines dropped or doubled, NULs, line endings changed): the
/// rewriter must not throw, and its output must still be the input tree with only detached parts replaced.
/// </summary>
public class MutationTests
{
    [Fact]
    public async Task Mutated_corpus_messages_never_throw_and_keep_the_invariants()
    {
        var random = new Random(int.Parse(Environment.GetEnvironmentVariable("MUT_SEED") ?? "2026"));
        var failures = new List<string>();
        int runs = 0;
        foreach (var message in TestCorpus.Messages)
        {
            byte[] original = await File.ReadAllBytesAsync(message.FullPath, TestContext.Current.CancellationToken);
            if (original.Length > 300_000)
            {
                continue;
            }

            for (int m = 0; m < 4; m++)
            {
                var (name, input) = Mutate(original, random);
                runs++;
                try
                {
                    var (output, result, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions { MinSizeBytes = 0 }, sink: new RecordingSink());
                    if (result.Detached.Count == 0)
                    {
                        if (result.LimitExceeded is not null)
                        {
                            Mail.AssertPassedThroughPastLimit(input, output, result.LimitExceeded);
                        }
                        else if (result.SkippedReason is null && !output.AsSpan().SequenceEqual(input))
                        {
                            failures.Add($"{message.RelativePath} [{name}]: unchanged output differs");
                        }

                        continue;
                    }
                    var problems = await TreeComparison.CompareAsync(input, output, sink);
                    foreach (var p in problems)
                    {
                        failures.Add($"{message.RelativePath} [{name}]: {p}");
                    }

                    if (problems.Count > 0 && Environment.GetEnvironmentVariable("MUT_DUMP") is { } dump)
                    {
                        await File.WriteAllBytesAsync(Path.Combine(dump, $"fail-{runs}.eml"), input, TestContext.Current.CancellationToken);
                    }
                }
                catch (Exception ex)
                {
                    failures.Add($"{message.RelativePath} [{name}]: {ex.GetType().Name}: {ex.Message}");
                }
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{runs} mutated messages rewritten");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(30)) + $"\n({failures.Count} failures)");
    }

    private static (string Name, byte[] Bytes) Mutate(byte[] input, Random random)
    {
        var lines = SplitLines(input);
        switch (random.Next(6))
        {
            case 0:
                int cut = random.Next(input.Length);
                return ($"truncated at {cut}", input[..cut]);
            case 1:
                int drop = random.Next(lines.Count);
                lines.RemoveAt(drop);
                return ($"line {drop} dropped", Join(lines));
            case 2:
                int dup = random.Next(lines.Count);
                lines.Insert(dup, lines[dup]);
                return ($"line {dup} doubled", Join(lines));
            case 3:
                var withNul = (byte[])input.Clone();
                for (int i = 0; i < 5; i++)
                {
                    withNul[random.Next(withNul.Length)] = 0;
                }

                return ("NULs", withNul);
            case 4:
                return ("CRLF to LF", Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(input).Replace("\r\n", "\n", StringComparison.Ordinal)));
            default:
                int at = random.Next(lines.Count);
                lines.Insert(at, Encoding.ASCII.GetBytes("--" + new string('-', random.Next(3)) + "\r\n"));
                return ($"stray dashes at line {at}", Join(lines));
        }
    }

    private static List<byte[]> SplitLines(byte[] input)
    {
        var lines = new List<byte[]>();
        int start = 0;
        for (int i = 0; i < input.Length; i++)
        {
            if (input[i] != '\n')
            {
                continue;
            }

            lines.Add(input[start..(i + 1)]);
            start = i + 1;
        }
        if (start < input.Length)
        {
            lines.Add(input[start..]);
        }

        if (lines.Count == 0)
        {
            lines.Add([]);
        }

        return lines;
    }

    private static byte[] Join(List<byte[]> lines) => lines.SelectMany(l => l).ToArray();
}
