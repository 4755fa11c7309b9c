namespace Detach.Tests.Support;

/// <summary>The repository checkout the test assembly was built from (the folder holding Detach.sln).</summary>
public static class RepositoryPaths
{
    private static readonly Lazy<string> FoundRoot = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Detach.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Detach.sln not found above {AppContext.BaseDirectory}.");
    });

    public static string Root => FoundRoot.Value;
}
