namespace Detach.Tests.Support;

/// <summary>One corpus message: which set it comes from, its path inside that set, and its index row.</summary>
public sealed record CorpusMessage(string Set, string RelativePath, string FullPath, string HasAttachment)
{
    public override string ToString() => RelativePath;
}

/// <summary>
/// The real-world messages the tests run over: always tests/corpus (in the repository), plus the files of
/// ../shared/corpus that are not in the repository when that folder exists (developer and CI machines).
/// Both folders have the same layout, so a message's relative path is the same in either.
/// </summary>
public static class TestCorpus
{
    /// <summary>The set every clone has.</summary>
    public const string RepositorySet = "tests/corpus";

    /// <summary>The optional extra: the shared files the repository may not redistribute.</summary>
    public const string SharedSet = "../shared/corpus";

    private static readonly Lazy<IReadOnlyList<CorpusMessage>> All = new(Load);

    public static string RepositoryDirectory => Path.Combine(RepositoryPaths.Root, "tests", "corpus");

    /// <summary>../shared/corpus beside the repository (or beside a folder above it, for git worktrees), or null.</summary>
    public static string? SharedDirectory { get; } = FindShared();

    /// <summary>The repository's messages first, then the shared extras, each set in index order.</summary>
    public static IReadOnlyList<CorpusMessage> Messages => All.Value;

    /// <summary>The sets present on this machine, the repository's first.</summary>
    public static IReadOnlyList<string> Sets => SharedDirectory is null ? [RepositorySet] : [RepositorySet, SharedSet];

    /// <summary>An expectation stated per set: the value for the repository's set or for the shared extras.</summary>
    public static T PerSet<T>(string set, T repository, T shared) => set == RepositorySet ? repository : shared;

    private static List<CorpusMessage> Load()
    {
        var messages = ReadIndex(RepositorySet, RepositoryDirectory).ToList();
        var here = messages.Select(m => m.RelativePath).ToHashSet(StringComparer.Ordinal);
        if (SharedDirectory is not null)
        {
            messages.AddRange(ReadIndex(SharedSet, SharedDirectory).Where(m => !here.Contains(m.RelativePath)));
        }

        return messages;
    }

    private static IEnumerable<CorpusMessage> ReadIndex(string set, string directory) =>
        File.ReadLines(Path.Combine(directory, "index.tsv")).Skip(1)
            .Where(line => line.Length > 0)
            .Select(line => line.Split('\t'))
            .Select(fields => new CorpusMessage(set, fields[0], Path.Combine(directory, fields[0]), fields[2]));

    private static string? FindShared()
    {
        for (var dir = Directory.GetParent(RepositoryPaths.Root); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "corpus");
            if (File.Exists(Path.Combine(candidate, "index.tsv")))
            {
                return candidate;
            }
        }

        return null;
    }
}
