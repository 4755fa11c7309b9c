namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>The checkout the tests run from: the nearest folder above the test assembly that holds Detach.sln.</summary>
public static class RepositoryRoot
{
    private static readonly Lazy<string?> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Detach.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    });

    /// <summary>The repository root, or null when the tests run outside a checkout.</summary>
    public static string? TryFind() => Root.Value;

    /// <summary>The repository root; skips the calling test when the tests run outside a checkout.</summary>
    public static string Find()
    {
        if (Root.Value is null)
        {
            Assert.Skip($"No folder holding Detach.sln above {AppContext.BaseDirectory}: the test needs the repository checkout.");
        }

        return Root.Value;
    }
}
