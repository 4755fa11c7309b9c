namespace Detach.Vault.Tests.Index;

internal static class RepositoryRoot
{
    /// <summary>The folder holding Detach.sln, found by walking up from the test assembly; null if none.</summary>
    public static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Detach.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
