from .dataset import CropReport as CropReport
from .dataset import crop_dataset as crop_dataset
from .finder import Face as Face
from .finder import FaceFinder as FaceFinder
from .finder import find_faces as find_faces
from .image import load_image as load_image
from .landmarks import LANDMARKS_FILE as LANDMARKS_FILE
from .landmarks import read_landmarks as read_landmarks
from .landmarks import write_landmarks as write_landmarks
from .policy import DEFAULT_POLICY as DEFAULT_POLICY
from .policy import POLICIES as POLICIES
from .policy import AlignedCropPolicy as AlignedCropPolicy
from .policy import CropPolicy as CropPolicy
from .policy import crop as crop
from .policy import named_policy as named_policy
from .sources import FaceCrop as FaceCrop
from .sources import faces_in_images as faces_in_images
from .sources import list_media as list_media
from .video import VIDEO_EXTENSIONS as VIDEO_EXTENSIONS
from .video import is_video as is_video
from .video import sample_frames as sample_frames

__all__ = [
    "DEFAULT_POLICY",
    "LANDMARKS_FILE",
    "POLICIES",
    "VIDEO_EXTENSIONS",
    "AlignedCropPolicy",
    "CropPolicy",
    "CropReport",
    "Face",
    "FaceCrop",
    "FaceFinder",
    "crop",
    "crop_dataset",
    "faces_in_images",
    "find_faces",
    "is_video",
    "list_media",
    "load_image",
    "named_policy",
    "read_landmarks",
    "sample_frames",
    "write_landmarks",
]
