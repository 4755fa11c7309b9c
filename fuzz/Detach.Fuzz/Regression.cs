using Detach.Tests.Support;

namespace Detach.Fuzz;

/// <summary>Runs a target over its seeds and the findings saved under fuzz/findings/&lt;target&gt;/, in process, without AFL.</summary>
internal static class Regression
{
    public static string FindingsDirectory(FuzzTarget target) => Path.Combine(RepositoryPaths.Root, "fuzz", "findings", target.Name);

    public static IEnumerable<(string Name, byte[] Data)> Inputs(FuzzTarget target)
    {
        foreach (var seed in target.Seeds())
        {
            yield return ("seed " + seed.Name, seed.Data);
        }

        var findings = FindingsDirectory(target);
        if (Directory.Exists(findings))
        {
            foreach (var file in Directory.EnumerateFiles(findings).Where(f => !f.EndsWith(".md", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            {
                yield return ("finding " + Path.GetFileName(file), File.ReadAllBytes(file));
            }
        }
    }

    /// <summary>Each failing input with what went wrong; empty when every input holds.</summary>
    public static List<string> Run(FuzzTarget target, out int count)
    {
        var failures = new List<string>();
        count = 0;
        foreach (var (name, data) in Inputs(target))
        {
            count++;
            if (Describe(target, data) is { } failure)
            {
                failures.Add($"{target.Name} / {name}: {failure}");
            }
        }

        return failures;
    }

    /// <summary>Null when the input holds, else the exception that escaped.</summary>
    public static string? Describe(FuzzTarget target, byte[] data)
    {
        try
        {
            target.Run(data);
            return null;
        }
#pragma warning disable CA1031 // Any escaping exception is the finding being reported.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return e.ToString();
        }
    }
}
