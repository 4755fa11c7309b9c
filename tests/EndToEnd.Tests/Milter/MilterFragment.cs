using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Milter;

/// <summary>
/// deploy/postfix/milter.cf.fragment, the main.cf lines docs/postfix.md shows for the milter: read, rendered with a
/// milter address, and turned into the settings a <see cref="PostfixInstance"/> applies with postconf -e.
/// </summary>
public static class MilterFragment
{
    public const string FileName = "milter.cf.fragment";

    /// <summary>The milter address as smtpd_milters names it, e.g. <c>inet:127.0.0.1:10027</c>.</summary>
    public const string Milter = "MILTER";

    /// <summary>The value docs/postfix.md uses.</summary>
    public static IReadOnlyDictionary<string, string> ProductionValues { get; } = new Dictionary<string, string> { [Milter] = "inet:127.0.0.1:10027" };

    public static string Read() => File.ReadAllText(Path.Combine(PostfixTemplates.Directory, FileName));

    public static string Render(string milter) => PostfixTemplates.Render(Read(), new Dictionary<string, string> { [Milter] = milter });

    /// <summary>The rendered "name = value" lines as settings (comments and blank lines dropped).</summary>
    public static Dictionary<string, string> Settings(string milter) =>
        Render(milter).Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim());
}
