import shutil

import pytest

HAS_SOFFICE = shutil.which("soffice") is not None or shutil.which("libreoffice") is not None
needs_libreoffice = pytest.mark.skipif(
    not HAS_SOFFICE,
    reason="LibreOffice (soffice) is not installed: apt-get install -y --no-install-recommends libreoffice-calc-nogui",
)
