using System.Text;

namespace Detach.Mime;

/// <summary>
/// The notice in a body whose charset cannot carry all of it (and that cannot become UTF-8): letters lose their
/// accents (é → e, œ → oe), typographic marks take their ASCII forms (’ → ', « → ", no-break space → space), and
/// anything else becomes '?'. A French notice in a 7-bit body with uuencoded files cut out still reads as French.
/// </summary>
internal static class NoticeFallback
{
    private static readonly Dictionary<char, string> Folds = BuildFolds();

    public static bool CanEncode(Encoding encoding, string text)
    {
        var strict = (Encoding)encoding.Clone();
        strict.EncoderFallback = EncoderFallback.ExceptionFallback;
        try
        {
            strict.GetByteCount(text);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    /// <summary><paramref name="text"/> in <paramref name="encoding"/> (ASCII-compatible), folding what it cannot carry.</summary>
    public static byte[] Encode(string text, Encoding encoding)
    {
        var folding = (Encoding)encoding.Clone();
        folding.EncoderFallback = new FoldingFallback();
        return folding.GetBytes(text);
    }

    /// <summary>The ASCII stand-in for a character.</summary>
    public static string Fold(char c) => Folds.TryGetValue(c, out var folded) ? folded : "?";

    private static Dictionary<char, string> BuildFolds()
    {
        var folds = new Dictionary<char, string>();
        void Map(string from, string to)
        {
            foreach (char c in from)
            {
                folds[c] = to;
            }
        }
        Map("ÀÁÂÃÄÅĀĂĄ", "A"); Map("àáâãäåāăą", "a"); Map("ÇĆĈĊČ", "C"); Map("çćĉċč", "c"); Map("ĎĐ", "D"); Map("ďđ", "d");
        Map("ÈÉÊËĒĔĖĘĚ", "E"); Map("èéêëēĕėęě", "e"); Map("ĜĞĠĢ", "G"); Map("ĝğġģ", "g"); Map("ÌÍÎÏĨĪĬĮİ", "I"); Map("ìíîïĩīĭįı", "i");
        Map("ĹĻĽĿŁ", "L"); Map("ĺļľŀł", "l"); Map("ÑŃŅŇ", "N"); Map("ñńņň", "n"); Map("ÒÓÔÕÖØŌŎŐ", "O"); Map("òóôõöøōŏő", "o");
        Map("ŔŖŘ", "R"); Map("ŕŗř", "r"); Map("ŚŜŞŠ", "S"); Map("śŝşš", "s"); Map("ŢŤ", "T"); Map("ţť", "t");
        Map("ÙÚÛÜŨŪŬŮŰŲ", "U"); Map("ùúûüũūŭůűų", "u"); Map("ÝŸŶ", "Y"); Map("ýÿŷ", "y"); Map("ŹŻŽ", "Z"); Map("źżž", "z");
        Map("Œ", "OE"); Map("œ", "oe"); Map("Æ", "AE"); Map("æ", "ae"); Map("ß", "ss");
        Map("‘’‚′", "'"); Map("“”„«»″", "\""); Map("‐‑‒–—―", "-"); Map("…", "..."); Map("\u00A0\u202F\u2009\u2007", " ");
        return folds;
    }

    private sealed class FoldingFallback : EncoderFallback
    {
        public override int MaxCharCount => 3;

        public override EncoderFallbackBuffer CreateFallbackBuffer() => new Buffer();

        private sealed class Buffer : EncoderFallbackBuffer
        {
            private string _replacement = "";
            private int _next;

            public override int Remaining => _replacement.Length - _next;

            public override bool Fallback(char charUnknown, int index) => Use(Fold(charUnknown));

            public override bool Fallback(char charUnknownHigh, char charUnknownLow, int index) => Use("?");

            public override char GetNextChar() => _next < _replacement.Length ? _replacement[_next++] : '\0';

            public override bool MovePrevious()
            {
                if (_next == 0)
                {
                    return false;
                }

                _next--;
                return true;
            }

            public override void Reset()
            {
                _replacement = "";
                _next = 0;
            }

            private bool Use(string text)
            {
                _replacement = text;
                _next = 0;
                return true;
            }
        }
    }
}
