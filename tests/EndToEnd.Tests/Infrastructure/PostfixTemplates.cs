using System.Text;
using System.Text.RegularExpressions;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The committed Postfix configuration fragments (deploy/postfix/*.fragment, copied next to the test assembly)
/// and their placeholders. docs/postfix.md shows the same fragments rendered with <see cref="ProductionValues"/>,
/// so what admins paste is what the end-to-end tests run.
/// </summary>
public static partial class PostfixTemplates
{
    public const string MainFragmentName = "main.cf.fragment";
    public const string MasterFragmentName = "master.cf.fragment";

    /// <summary>The master.cf service name of the before-filter smtpd (e.g. <c>smtp</c>, or <c>127.0.0.1:2525</c>).</summary>
    public const string Inbound = "INBOUND";

    /// <summary>The port detach listens on, on 127.0.0.1.</summary>
    public const string FilterPort = "FILTER_PORT";

    /// <summary>The port of the after-filter (reinjection) smtpd, on 127.0.0.1.</summary>
    public const string ReinjectPort = "REINJECT_PORT";

    /// <summary>smtpd_proxy_timeout, a Postfix time value such as <c>100s</c>.</summary>
    public const string ProxyTimeout = "PROXY_TIMEOUT";

    /// <summary>message_size_limit in bytes.</summary>
    public const string MessageSizeLimit = "MESSAGE_SIZE_LIMIT";

    /// <summary>The values docs/postfix.md uses: the documented production setup.</summary>
    public static IReadOnlyDictionary<string, string> ProductionValues { get; } = new Dictionary<string, string>
    {
        [Inbound] = "smtp",
        [FilterPort] = "10025",
        [ReinjectPort] = "10026",
        [ProxyTimeout] = "100s",
        [MessageSizeLimit] = "62914560",
    };

    /// <summary>Folder holding the fragments: next to the test assembly, else deploy/postfix in the checkout.</summary>
    public static string Directory
    {
        get
        {
            var copied = Path.Combine(AppContext.BaseDirectory, "deploy", "postfix");
            return File.Exists(Path.Combine(copied, MasterFragmentName))
                ? copied
                : Path.Combine(RepositoryPaths.Root, "deploy", "postfix");
        }
    }

    public static string ReadMainFragment() => File.ReadAllText(Path.Combine(Directory, MainFragmentName));

    public static string ReadMasterFragment() => File.ReadAllText(Path.Combine(Directory, MasterFragmentName));

    /// <summary>
    /// Replaces each <c>{{NAME}}</c>. A placeholder without a value, or a value no placeholder uses, is an
    /// error: either means the template and its callers drifted apart.
    /// </summary>
    public static string Render(string template, IReadOnlyDictionary<string, string> values)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var missing = new List<string>();
        var result = Placeholder().Replace(template, match =>
        {
            var name = match.Groups[1].Value;
            if (values.TryGetValue(name, out var value))
            {
                used.Add(name);
                return value;
            }

            missing.Add(name);
            return match.Value;
        });
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"No value for placeholder(s) {string.Join(", ", missing.Distinct())}.");
        }

        var unused = values.Keys.Where(k => !used.Contains(k)).ToArray();
        if (unused.Length > 0)
        {
            throw new InvalidOperationException($"Template has no placeholder(s) {string.Join(", ", unused)}.");
        }

        return result;
    }

    /// <summary>The placeholder names a template uses, in order of first use.</summary>
    public static IReadOnlyList<string> PlaceholdersIn(string template) =>
        Placeholder().Matches(template).Select(m => m.Groups[1].Value).Distinct().ToArray();

    /// <summary>Renders only the values the template uses (for sets shared by several templates).</summary>
    public static string RenderSubset(string template, IReadOnlyDictionary<string, string> values)
    {
        var needed = PlaceholdersIn(template);
        return Render(template, values.Where(kv => needed.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value));
    }

    /// <summary>Appends a comment-headed block, making sure it starts on its own line.</summary>
    internal static void AppendBlock(StringBuilder text, string heading, string block)
    {
        if (text.Length > 0 && text[^1] != '\n')
        {
            text.Append('\n');
        }

        text.Append('\n').Append("# ---- ").Append(heading).Append(" ----\n").Append(block);
        if (!block.EndsWith('\n'))
        {
            text.Append('\n');
        }
    }

    [GeneratedRegex(@"\{\{([A-Z_]+)\}\}")]
    private static partial Regex Placeholder();
}
