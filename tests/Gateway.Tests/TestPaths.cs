namespace Detach.Gateway.Tests;

/// <summary>Where the repository and the shared real-world corpus are, seen from the test assembly.</summary>
internal static class TestPaths
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>
    /// ../shared/corpus beside the repository (a git worktree sits deeper, so every parent is tried), or null when
    /// this machine does not have it.
    /// </summary>
    public static string? Corpus
    {
        get
        {
            for (var up = Directory.GetParent(RepositoryRoot); up is not null; up = up.Parent)
            {
                var corpus = Path.Combine(up.FullName, "shared", "corpus");
                if (File.Exists(Path.Combine(corpus, "index.tsv")))
                {
                    return corpus;
                }
            }

            return null;
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Detach.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Detach.sln not found above the test assembly.");
    }
}
