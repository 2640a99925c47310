"""Raga tables of the synthetic corpus: the eight ragas' scales, phrases and emphasis, and the melody timbres.

Pure data. [`RagaSpec`] describes one raga in semitones above Sa, `RAGAS` holds the ragas of the Hub dataset under
their names (`RAGA_NAMES`, in label order), and `TIMBRES` names the instruments the renderer (`render.py`) can play.
The melody composition (`melody.py`) draws its phrases, scale runs and resting notes from these tables.
"""

from dataclasses import dataclass


RAGA_NAMES = (
    "Kalyani",
    "Kharaharapriya",
    "Mayamalavagoulai",
    "Todi",
    "Amritavarshini",
    "Hamsanaadam",
    "Varali",
    "Sindhubhairavi",
)

TIMBRES = ("voice", "violin", "flute", "veena", "nadaswaram")


def _emphasis(weights: dict[int, float]) -> tuple[float, ...]:
    """12 pitch-class weights, 1.0 unless given."""
    return tuple(float(weights.get(pc, 1.0)) for pc in range(12))


@dataclass(frozen=True)
class RagaSpec:
    """
    Musical description of one raga, in semitones above Sa (R1 1, R2=G1 2, G2 3, G3 4, M1 5, M2 6, P 7, D1 8,
    D2 9, N2 10, N3 11).

    Args:
        name (`str`): Raga name, spelled as in the Hub dataset.
        arohana (`tuple[int, ...]`): Ascending scale from Sa to upper Sa (12), zig-zags included (Varali).
        avarohana (`tuple[int, ...]`): Descending scale from upper Sa to Sa.
        phrases (`tuple[tuple[int, ...], ...]`): Characteristic phrases (prayogas) as semitone offsets; negative
            values are mandra sthayi, values above 12 tara sthayi.
        emphasis (`tuple[float, ...]`): Weight per pitch class (length 12); nyasa and jeeva swaras are above 1 and
            are held longer, ornamented more often and chosen more often as phrase endings.
        foreign_notes (`tuple[int, ...]`, *optional*): Pitch classes outside the scale that may replace a neighbouring
            scale note inside a phrase (Sindhubhairavi's R1, G3, D2, N3).
        foreign_prob (`float`, *optional*, defaults to 0.0): Chance that a generated phrase receives a foreign note.
    """

    name: str
    arohana: tuple[int, ...]
    avarohana: tuple[int, ...]
    phrases: tuple[tuple[int, ...], ...]
    emphasis: tuple[float, ...]
    foreign_notes: tuple[int, ...] = ()
    foreign_prob: float = 0.0

    @property
    def scale(self) -> tuple[int, ...]:
        """Sorted pitch classes used by arohana and avarohana."""
        return tuple(sorted({note % 12 for note in self.arohana + self.avarohana}))


RAGAS: dict[str, RagaSpec] = {
    "Kalyani": RagaSpec(
        name="Kalyani",
        arohana=(0, 2, 4, 6, 7, 9, 11, 12),
        avarohana=(12, 11, 9, 7, 6, 4, 2, 0),
        phrases=(
            (-1, 2, 4, 2, 4, 6, 7),
            (4, 6, 7, 9, 11, 12),
            (14, 12, 11, 9, 7, 6, 4),
            (6, 4, 2, 0, -1, -3, -1, 0),
            (9, 7, 6, 4, 6, 7, 9, 11),
            (11, 9, 11, 12, 14, 16, 14, 12),
            (7, 6, 4, 2, 4),
            (-5, -3, -1, 2, 4),
        ),
        emphasis=_emphasis({4: 1.6, 11: 1.4, 7: 1.3, 2: 1.2, 9: 1.2}),
    ),
    "Kharaharapriya": RagaSpec(
        name="Kharaharapriya",
        arohana=(0, 2, 3, 5, 7, 9, 10, 12),
        avarohana=(12, 10, 9, 7, 5, 3, 2, 0),
        phrases=(
            (7, 9, 10, 12, 14, 12, 10, 9),
            (2, 3, 5, 3, 2, 0),
            (10, 9, 7, 5, 3, 2, 0),
            (3, 5, 7, 9, 7, 5, 3, 2),
            (-2, 0, 2, 3, 2, 0, -2, 0),
            (12, 10, 9, 10, 12, 14, 15, 14, 12),
            (5, 7, 9, 10, 9, 7),
            (-5, -3, -2, 0, 2, 3),
        ),
        emphasis=_emphasis({3: 1.5, 10: 1.5, 2: 1.4, 7: 1.2, 9: 1.2}),
    ),
    "Mayamalavagoulai": RagaSpec(
        name="Mayamalavagoulai",
        arohana=(0, 1, 4, 5, 7, 8, 11, 12),
        avarohana=(12, 11, 8, 7, 5, 4, 1, 0),
        phrases=(
            (0, 1, 4, 5, 7, 5, 4),
            (8, 7, 5, 4, 1, 0),
            (11, 12, 13, 12, 11, 8, 7),
            (4, 5, 8, 7, 5, 4, 1, 0),
            (-1, 0, 1, 4, 5, 4, 1, 0),
            (7, 8, 11, 12, 11, 8, 7),
            (12, 11, 8, 7, 8, 11, 12, 16, 12),
            (-5, -4, -1, 0, 1, 0),
        ),
        emphasis=_emphasis({4: 1.5, 11: 1.4, 8: 1.3, 1: 1.2, 7: 1.2}),
    ),
    "Todi": RagaSpec(
        name="Todi",
        arohana=(0, 1, 3, 5, 7, 8, 10, 12),
        avarohana=(12, 10, 8, 7, 5, 3, 1, 0),
        phrases=(
            (3, 1, 3, 5, 3, 1, 0),
            (8, 7, 8, 10, 8, 7, 5, 3),
            (-2, 0, 1, 3, 1, 0),
            (7, 8, 10, 12, 13, 12, 10, 8),
            (5, 3, 5, 7, 8, 7, 5, 3, 1, 0),
            (10, 8, 7, 5, 3, 1, 3),
            (13, 15, 13, 12, 10, 8),
            (-4, -2, 0, 1, 3),
        ),
        emphasis=_emphasis({3: 1.7, 8: 1.5, 10: 1.3, 1: 1.2, 5: 1.1}),
    ),
    "Amritavarshini": RagaSpec(
        name="Amritavarshini",
        arohana=(0, 4, 6, 7, 11, 12),
        avarohana=(12, 11, 7, 6, 4, 0),
        phrases=(
            (0, 4, 6, 7, 11, 12),
            (12, 11, 7, 6, 4, 0),
            (4, 6, 7, 6, 4, 0, -1, 0),
            (7, 11, 12, 16, 12, 11, 7),
            (11, 7, 6, 4, 6, 7),
            (16, 18, 16, 12, 11, 12),
            (-5, -1, 0, 4, 6, 4),
        ),
        emphasis=_emphasis({4: 1.4, 6: 1.4, 11: 1.3, 7: 1.2}),
    ),
    "Hamsanaadam": RagaSpec(
        name="Hamsanaadam",
        arohana=(0, 2, 6, 7, 11, 12),
        avarohana=(12, 11, 7, 6, 2, 0),
        phrases=(
            (0, 2, 6, 7, 11, 12),
            (12, 11, 7, 6, 2, 0),
            (7, 11, 12, 14, 12, 11, 7),
            (2, 6, 7, 6, 2, 0, -1, 0),
            (11, 12, 11, 7, 6, 7),
            (14, 18, 19, 18, 14, 12),
            (-5, -1, 0, 2, 6, 2),
        ),
        emphasis=_emphasis({11: 1.5, 6: 1.4, 2: 1.2, 7: 1.2}),
    ),
    "Varali": RagaSpec(
        name="Varali",
        arohana=(0, 2, 1, 2, 6, 7, 8, 11, 12),
        avarohana=(12, 11, 8, 7, 6, 2, 1, 0),
        phrases=(
            (2, 1, 2, 6, 7),
            (8, 7, 6, 2, 1, 0),
            (6, 7, 8, 11, 12, 11, 8, 7),
            (2, 6, 2, 1, 0, -1, 0),
            (12, 11, 8, 7, 6, 7, 6, 2),
            (0, 2, 1, 2, 6, 7, 8, 7),
            (13, 14, 13, 12, 11, 8),
            (-4, -1, 0, 2, 1, 0),
        ),
        emphasis=_emphasis({2: 1.6, 6: 1.4, 8: 1.2, 11: 1.2, 1: 1.1}),
    ),
    "Sindhubhairavi": RagaSpec(
        name="Sindhubhairavi",
        arohana=(0, 2, 3, 5, 7, 8, 10, 12),
        avarohana=(12, 10, 8, 7, 5, 3, 2, 0),
        phrases=(
            (0, 2, 3, 5, 3, 2, 1, 0),
            (7, 8, 10, 12, 10, 8, 7),
            (3, 2, 0, -2, -4, -2, 0),
            (5, 4, 5, 7, 8, 7, 5, 3),
            (7, 9, 10, 12, 11, 12),
            (10, 8, 7, 5, 3, 2, 0),
            (8, 7, 5, 3, 5, 7, 8, 10, 8),
            (-5, -4, -2, 0, 2, 3),
        ),
        emphasis=_emphasis({3: 1.4, 7: 1.3, 8: 1.3, 0: 1.2, 5: 1.1}),
        foreign_notes=(1, 4, 9, 11),
        foreign_prob=0.15,
    ),
}


__all__ = [
    "RAGAS",
    "RAGA_NAMES",
    "TIMBRES",
    "RagaSpec",
]
