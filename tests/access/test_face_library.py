"""The face-recognition stack installs and works (dlib-bin + face_recognition, DESIGN.md §1).

The access issue builds the real face pipeline on this; here we only prove that a fresh
install can encode the shared photos and tell the same person from another.
"""

from pathlib import Path

import pytest

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"

pytestmark = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/faces is not beside the project")


def test_same_person_is_closer_than_another():
    face_recognition = pytest.importorskip("face_recognition")

    def encode(name: str):
        encodings = face_recognition.face_encodings(face_recognition.load_image_file(FACES / name))
        assert len(encodings) == 1, name
        return encodings[0]

    enrolled = encode("enroll/obama.jpg")
    same = face_recognition.face_distance([enrolled], encode("probe/obama2.jpg"))[0]
    other = face_recognition.face_distance([enrolled], encode("enroll/biden.jpg"))[0]
    assert same < 0.5 < other
