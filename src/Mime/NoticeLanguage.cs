using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Resources;

namespace Detach.Mime;

/// <summary>
/// One language of the notice: its texts from Resources/NoticeText.resx (English) or NoticeText.{tag}.resx. A third
/// language is one more file, found by its tag in its satellite assembly.
/// </summary>
public sealed class NoticeLanguage
{
    public const string DefaultTag = "en";

    private static readonly ResourceManager Resources = new("Detach.Mime.Resources.NoticeText", typeof(NoticeLanguage).Assembly);
    private static readonly ConcurrentDictionary<string, NoticeLanguage?> Known = new(StringComparer.Ordinal);

    private readonly CultureInfo _culture;
    private readonly HashSet<long> _singularCounts;
    private readonly List<string> _missingTexts;

    private NoticeLanguage(string tag, CultureInfo culture)
    {
        Tag = tag;
        this._culture = culture;
        _missingTexts = MissingTexts(culture);
        _singularCounts = [.. Text("SingularCounts").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(n => long.Parse(n, NumberStyles.None, CultureInfo.InvariantCulture))];
        SizeWords = new SizeWords(Text("Size.DecimalMark"), Text("Size.Byte"), Text("Size.Bytes"), _singularCounts,
            Text("Size.Kilobytes"), Text("Size.Megabytes"), Text("Size.Gigabytes"), Text("Size.Terabytes"));
    }

    public static NoticeLanguage English { get; } = new(DefaultTag, CultureInfo.InvariantCulture);

    /// <summary>The language tag, lower case: "en", "fr".</summary>
    public string Tag { get; }

    /// <summary>How this language writes sizes, for <see cref="SizeText"/>.</summary>
    public SizeWords SizeWords { get; }

    /// <summary>The language with this tag ("fr"), or null when no resource file speaks it.</summary>
    public static NoticeLanguage? Find(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        tag = tag.Trim().ToLowerInvariant();
        return tag == DefaultTag ? English : Known.GetOrAdd(tag, Load);
    }

    /// <summary>
    /// Parses a choice of languages, "en", "fr", or several joined by '+' ("en+fr" for a bilingual notice, English
    /// first). Null with <paramref name="problem"/> set when a tag has no resource file, or its file lacks a text.
    /// </summary>
    public static IReadOnlyList<NoticeLanguage>? ParseChoice(string? choice, out string? problem)
    {
        var tags = (choice ?? "").Split('+', StringSplitOptions.TrimEntries);
        var languages = new List<NoticeLanguage>(tags.Length);
        foreach (var tag in tags)
        {
            if (Find(tag) is not { } language)
            {
                problem = $"'{choice}' names '{tag}', which is not a language of the notice ({string.Join(", ", Available())}; "
                    + "a language is one more Resources/NoticeText.{tag}.resx in src/Mime); join several with '+', e.g. en+fr.";
                return null;
            }

            if (language._missingTexts is { Count: > 0 } missing)
            {
                problem = $"'{choice}': Resources/NoticeText.{tag}.resx lacks {string.Join(", ", missing)}.";
                return null;
            }

            if (languages.Contains(language))
            {
                problem = $"'{choice}' names '{tag}' twice.";
                return null;
            }

            languages.Add(language);
        }

        problem = null;
        return languages;
    }

    /// <summary>The tags of every language shipped beside the program (English and each satellite assembly's).</summary>
    public static IEnumerable<string> Available()
    {
        var satellite = typeof(NoticeLanguage).Assembly.GetName().Name + ".resources.dll";
        return Directory.EnumerateDirectories(AppContext.BaseDirectory)
            .Where(d => File.Exists(Path.Combine(d, satellite)))
            .Select(d => Path.GetFileName(d).ToLowerInvariant())
            .Prepend(DefaultTag)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal);
    }

    internal string Text(string name) =>
        Resources.GetString(name, _culture) ?? throw new InvalidOperationException($"Resources/NoticeText.resx has no text '{name}'.");

    internal string Format(string name, params object?[] values) => string.Format(CultureInfo.InvariantCulture, Text(name), values);

    /// <summary>The text "{name}.One" or "{name}.Other", as <paramref name="count"/> takes the singular or the plural.</summary>
    internal string Counted(string name, long count, params object?[] values) =>
        Format(name + (_singularCounts.Contains(count) ? ".One" : ".Other"), values);

    internal string Size(long bytes) => SizeText.Format(bytes, SizeWords);

    /// <summary>A moment as this language writes it, in UTC and saying so.</summary>
    internal string Date(DateTimeOffset at) => at.UtcDateTime.ToString(Text("DateFormat"), CultureInfo.InvariantCulture);

    public override string ToString() => Tag;

    private static NoticeLanguage? Load(string tag)
    {
        if (tag.Length is 0 or > 35 || tag.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyz0123456789-"))
        {
            return null;
        }

        CultureInfo culture;
        try
        {
            culture = CultureInfo.GetCultureInfo(tag);
        }
        catch (CultureNotFoundException)
        {
            return null;
        }

        return Resources.GetResourceSet(culture, createIfNotExists: true, tryParents: false) is null ? null : new NoticeLanguage(tag, culture);
    }

    /// <summary>The English texts this language's own file does not have (it would fall back to English for them).</summary>
    private static List<string> MissingTexts(CultureInfo culture)
    {
        var own = Resources.GetResourceSet(culture, createIfNotExists: true, tryParents: false);
        var missing = new List<string>();
        foreach (DictionaryEntry entry in Resources.GetResourceSet(CultureInfo.InvariantCulture, createIfNotExists: true, tryParents: false)!)
        {
            if (entry.Key is string name && own?.GetString(name) is null)
            {
                missing.Add(name);
            }
        }

        missing.Sort(StringComparer.Ordinal);
        return missing;
    }
}

/// <summary>What one message's notice says beyond its files: the caller chooses it for each message.</summary>
public sealed record NoticeOptions
{
    public static NoticeOptions Default { get; } = new();

    /// <summary>The languages the notice is written in, in order (Policy:Language); two or more give a bilingual notice.</summary>
    public IReadOnlyList<NoticeLanguage> Languages { get; init; } = [NoticeLanguage.English];

    /// <summary>The completed downloads each link allows (Gateway:MaxDownloadsPerLink), said for every file; null for no limit.</summary>
    public int? MaxDownloadsPerLink { get; init; }
}
